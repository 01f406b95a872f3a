"""HTTP mode's server: Bolt's WSGI adapter behind waitress, with limits and a graceful stop.

Why waitress: the Bolt app is synchronous and shares the process with the scheduler and the
driver threads. waitress reads each request whole on one event loop before a worker thread sees
it (waitress/channel.py `received`), so a slow client holds a socket, never a thread, and acks
keep flowing. ASGI would not help: Bolt's ASGI adapter for a sync `App` calls `app.dispatch`
inside the event loop (slack_bolt/adapter/asgi/builtin), stalling every connection per request;
gunicorn forks workers, which would not have the scheduler and driver threads.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_sdk.signature import SignatureVerifier
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask
from waitress.utilities import Error

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
MAX_BODY = 1_000_000  # bytes; Slack's payloads are far smaller: 413 above
MAX_HEADERS = 32_768  # bytes of request line and headers: 431 above
REQUEST_TIMEOUT = 10  # seconds: for a whole request to arrive, and for an idle connection
SHUTDOWN_TIMEOUT = 10.0  # seconds in-flight requests get to finish on stop (Slack acks in 3)
THREADS = 16  # requests dispatched at once; each holds its thread until the listener acks
CONNECTIONS = 500  # open connections; beyond them waitress stops accepting until some close


def signed(verifier: SignatureVerifier, body: str | bytes, headers: Mapping[str, Any]) -> bool:
    """Whether Slack signed this request now; any malformed header is simply not signed.
    `headers` as Bolt keeps them (lower-case names, lists of values) or plain."""
    flat = {k.lower(): (v[0] if v else "") if isinstance(v, list | tuple) else v
            for k, v in headers.items()}
    try:
        return verifier.is_valid_request(body, flat)
    except (ValueError, TypeError, OverflowError):  # int("abc"), int("1.5"), a list ...
        return False


def _refusal(status: int, why: str, peer: str) -> bytes:
    log.warning("refused a request from %s: %d %s", peer, status, why)
    return json.dumps({"ok": False, "error": why}).encode()


class _BoltAdapter(SlackRequestHandler):
    """Bolt's WSGI adapter, answering 400 (not waitress's 500) to a body Bolt cannot parse."""

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        try:
            bolt_request = BoltRequest(body=request.get_body(), query=request.query_string,
                                       headers=request.get_headers())
        except ValueError as exc:  # payload=notjson, a body that is not UTF-8 ...
            peer = str(request.environ.get("REMOTE_ADDR"))
            body = _refusal(400, f"malformed body ({type(exc).__name__})", peer)
            return BoltResponse(status=400, body=body.decode(),
                                headers={"content-type": "application/json"})
        return self.app.dispatch(bolt_request)


def events_app(app: App, verifier: SignatureVerifier | None) -> WSGIApplication:
    """The WSGI app: Slack's signature checked cheaply first (401 before Bolt parses anything;
    Bolt's RequestVerification checks it again), then Bolt's adapter on `EVENTS_PATH`."""
    adapter = _BoltAdapter(app, EVENTS_PATH)

    def serve(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if verifier is not None and environ.get("PATH_INFO") == EVENTS_PATH \
                and environ.get("REQUEST_METHOD") == "POST":
            body = environ["wsgi.input"].read()  # waitress has it whole, within MAX_BODY
            if not signed(verifier, body, WsgiHttpRequest(environ).get_headers()):
                answer = _refusal(401, "not signed by Slack (X-Slack-Signature, "
                                  "X-Slack-Request-Timestamp)", str(environ.get("REMOTE_ADDR")))
                start_response("401 Unauthorized", [("Content-Type", "application/json"),
                                                    ("Content-Length", str(len(answer)))])
                return [answer]
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        return adapter(environ, start_response)

    return serve


class _Refusal(ErrorTask):
    """waitress's own refusals (413 body too large, 431 headers too large, 400 bad framing)
    with the JSON answer and the log line of the bot's own."""

    def execute(self) -> None:
        error: Error = cast(Any, self.request).error  # the stubs call the parser an Error
        body = _refusal(error.code, f"{error.reason}: {error.body}", str(self.channel.addr[0]))
        self.status = f"{error.code} {error.reason}"
        self.response_headers = [("Content-Type", "application/json")]
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _Channel(HTTPChannel):
    """One connection. It notes when its current request began (for the request deadline) and
    reads nothing more once the server drains."""

    error_task_class = _Refusal
    request_began = 0.0  # time.time(), like waitress's last_activity

    def received(self, data: bytes) -> bool:
        if self.request is None:
            self.request_began = time.time()
        return super().received(data)

    def readable(self) -> bool:
        return not cast(EventsServer, self.server).draining and super().readable()


class EventsServer(TcpWSGIServer):
    """waitress serving `app` on `host:port` from a thread, until `stop`.

    Limits, as waitress 3.0.2 applies them (waitress/...): `max_request_body_size` answers 413
    to a Content-Length at or above it before the body is read (parser.py:153-162; hence
    MAX_BODY + 1), and to a chunked body once it gets there (parser.py:175-180);
    `max_request_header_size` answers 431 (parser.py:116-123); `channel_timeout` closes a
    connection idle that long, checked every `cleanup_interval` (server.py:264-268, 342-351).
    That idle clock restarts with every byte received (channel.py:165), so a body trickled byte
    by byte is cut off by `maintenance` below, REQUEST_TIMEOUT after its first byte. `stop`
    runs its steps on the loop's thread through the trigger (trigger.py:92-110).
    """

    channel_class = _Channel
    draining = False

    def __init__(self, app: WSGIApplication, host: str, port: int) -> None:
        self._sockets: dict[int, Any] = {}  # waitress's socket map: the loop runs while it has any
        super().__init__(app, map=self._sockets, host=host, port=port, threads=THREADS,
                         connection_limit=CONNECTIONS, max_request_body_size=MAX_BODY + 1,
                         max_request_header_size=MAX_HEADERS, channel_timeout=REQUEST_TIMEOUT,
                         cleanup_interval=1, asyncore_use_poll=True, expose_tracebacks=False)
        self.port = int(self.getsockname()[1])  # the one bound, when `port` was 0
        self._thread = threading.Thread(target=self.run, name="http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def maintenance(self, now: float) -> None:  # waitress passes time.time(); stubs say int
        super().maintenance(now)  # type: ignore[arg-type]
        for channel in self._channels():
            if channel.request is not None and not channel.requests \
                    and channel.request_began < now - REQUEST_TIMEOUT:
                log.warning("http: cut off a request from %s: not received within %d s",
                            channel.addr[0], REQUEST_TIMEOUT)
                channel.will_close = True

    def stop(self, bound: float = SHUTDOWN_TIMEOUT) -> None:
        """Refuse new connections and requests, let the requests being served finish within
        `bound` seconds, then close every connection and end the loop and the worker threads."""
        self._on_loop(self._drain)
        deadline = time.monotonic() + bound
        while self._serving() and time.monotonic() < deadline:
            time.sleep(0.02)
        if self._serving():
            log.warning("http: %d request(s) still in flight after %.0f s; closing them",
                        sum(1 for c in self._channels() if c.requests), bound)
        self._on_loop(self._close_all)
        if self._thread.ident is not None:
            self._thread.join(5)
        self.task_dispatcher.shutdown(cancel_pending=True, timeout=1)

    def _drain(self) -> None:
        self.draining = True
        wasyncore.dispatcher.close(self)  # the listening socket: new connections are refused
        for channel in self._channels():
            if not channel.requests and not channel.total_outbufs_len:  # idle, or still
                channel.will_close = True  # sending a request: it was not being served yet

    def _close_all(self) -> None:
        for channel in self._channels():
            channel.handle_close()
        wasyncore.close_all(self._sockets)  # the trigger too: the loop ends

    def _serving(self) -> bool:
        return any(c.requests or c.total_outbufs_len for c in self._channels())

    def _channels(self) -> list[_Channel]:
        return list(cast("dict[int, _Channel]", self.active_channels).values())

    def _on_loop(self, thunk: Callable[[], None]) -> None:
        """Runs `thunk` on the loop's thread (waitress's trigger runs queued thunks there), or
        here once the loop has ended."""
        if self._thread.is_alive():
            try:
                cast(Any, self.trigger).pull_trigger(thunk)
                return
            except OSError:  # the trigger was closed under us: the loop is ending
                self._thread.join(1)
        thunk()
