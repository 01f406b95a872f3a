"""Slack's way in: the Bolt app, served over Socket Mode or behind HTTP.

Bolt's listener threads only parse and ack (handlers/); a dedicated, larger listener executor
keeps acks fast under load (Bolt's default is 5 threads shared with lazy listeners). HTTP mode
serves `/slack/events` from a threading server that refuses, before anything is parsed or
dispatched, whatever Slack did not sign (401 for a missing, malformed, stale or wrong signature
or timestamp: slack_sdk's verifier raises on a timestamp that is not an integer), answers a
malformed body with 400 and a log line, and drops connections that send nothing for
REQUEST_TIMEOUT seconds. Socket Mode needs no public endpoint. One `@app.error` answers with a
reference id and logs the trace; nothing of it reaches the channel, and in HTTP mode it answers
only a request that was signed (never a response_url from an unverified body).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from slack_sdk.signature import SignatureVerifier

from bot.config.settings import SlackMode
from bot.slack.client import ack_kind
from bot.slack.notifier import answer_failure
from bot.upgrade.errors import GiveUp

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
MAX_BODY = 1_000_000  # bytes; Slack's payloads are far smaller
REQUEST_TIMEOUT = 10.0  # seconds a connection may take to send its request
OnAck = Callable[[str, float], None]  # (kind of request, seconds from arrival to ack)


class _TimedApp(App):
    """Bolt's App, timing each request from its arrival to the ack (`dispatch` returns once
    the listener acked, as process_before_response is off) for the ack latency histogram."""

    on_ack: OnAck | None = None

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        started = time.perf_counter()
        response = super().dispatch(req)
        if self.on_ack is not None and response.status == 200:
            self.on_ack(ack_kind(req.body), time.perf_counter() - started)
        return response


def build_app(client: WebClient, mode: SlackMode, signing_secret: str | None,
              on_ack: OnAck | None = None) -> App:
    """The Bolt app, with no listener yet (`handlers.register` adds them)."""
    if mode is SlackMode.HTTP and not signing_secret:  # Bolt would check against an empty key
        raise GiveUp("HTTP mode needs the signing secret to verify Slack's requests.",
                     "Set SLACK_SIGNING_SECRET (Basic Information > App Credentials).")
    app = _TimedApp(client=client, signing_secret=signing_secret or "",
                    request_verification_enabled=mode is SlackMode.HTTP,
                    token_verification_enabled=True, process_before_response=False,
                    listener_executor=ThreadPoolExecutor(32, thread_name_prefix="bolt"))
    app.on_ack = on_ack
    verifier = SignatureVerifier(signing_secret) if mode is SlackMode.HTTP and signing_secret \
        else None

    @app.error
    def handle_errors(error: Exception, body: dict[str, Any], request: BoltRequest) -> None:
        url = body.get("response_url") if isinstance(body, dict) else None
        if verifier is not None and not signed(verifier, request.raw_body, request.headers):
            url = None  # an unverified body names no URL the bot will call
        answer_failure(url if isinstance(url, str) else None, "unhandled error", error)

    return app


def signed(verifier: SignatureVerifier, body: str, headers: Mapping[str, Any]) -> bool:
    """Whether Slack signed this request now; any malformed header is simply not signed.
    `headers` as Bolt keeps them (lower-case names, lists of values) or plain."""
    flat = {k.lower(): (v[0] if v else "") if isinstance(v, list | tuple) else v
            for k, v in headers.items()}
    try:
        return verifier.is_valid_request(body, flat)
    except (ValueError, TypeError, OverflowError):  # int("abc"), int("1.5"), a list ...
        return False


def _content_length(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


class _EventsHandler(BaseHTTPRequestHandler):
    app: App  # set on the subclass made per server
    verifier: SignatureVerifier | None = None  # HTTP mode: Slack's signing secret
    timeout = REQUEST_TIMEOUT  # a connection that sends nothing is dropped (socket timeout)

    def do_POST(self) -> None:
        if self.path.split("?")[0] != EVENTS_PATH:
            self._answer(404, b"not found", "text/plain")
            return
        size = _content_length(self.headers.get("Content-Length"))
        if size is None or size > MAX_BODY:
            self._refuse(400 if size is None else 413, "a Content-Length of at most "
                         f"{MAX_BODY} bytes is required")
            return
        body = self.rfile.read(size).decode("utf-8", "replace")
        headers: dict[str, str | Sequence[str]] = {k.lower(): [v]
                                                   for k, v in self.headers.items()}
        if self.verifier is not None and not signed(self.verifier, body, headers):
            self._refuse(401, "not signed by Slack (X-Slack-Signature, X-Slack-Request-Timestamp)")
            return
        try:
            request = BoltRequest(body=body, headers=headers)
        except ValueError as exc:  # payload=notjson and the like
            self._refuse(400, f"malformed body ({type(exc).__name__})")
            return
        response = self.app.dispatch(request)
        content_type = (response.headers.get("content-type") or ["text/plain"])[0]
        self._answer(response.status, (response.body or "").encode(), content_type)

    def _refuse(self, status: int, why: str) -> None:
        log.warning("refused a request to %s from %s: %d %s", self.path, self.client_address[0],
                    status, why)
        self._answer(status, json.dumps({"ok": False, "error": why}).encode(),
                     "application/json")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: " + format, *args)


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # socketserver's 5 drops bursts of commands into SYN retries
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints a plain-text traceback to stderr; one JSON log line instead.
        log.warning("http: connection from %s ended: %s", client_address[0],
                    sys.exc_info()[1])


class SlackServer:
    """Serves the app: a Socket Mode connection, or `/slack/events` on `host:port`."""

    def __init__(self, app: App, mode: SlackMode, app_token: str | None, port: int = 0,
                 signing_secret: str | None = None) -> None:
        self.app, self.mode, self._app_token, self._port = app, mode, app_token, port
        self._verifier = SignatureVerifier(signing_secret) if signing_secret else None
        self.host = "127.0.0.1"  # where HTTP mode listens; `run` listens on every interface
        self._socket: SocketModeHandler | None = None
        self._http: _Server | None = None

    def connected(self) -> tuple[bool, str]:
        """Whether Slack can reach the bot now, and how (the ops endpoint's `slack` probe)."""
        if self._socket is not None:
            up = self._socket.client.is_connected()
            return up, "Socket Mode connected" if up else "Socket Mode disconnected"
        if self._http is not None:
            return True, f"serving {EVENTS_PATH} on port {self._http.server_address[1]}"
        return False, "not connected to Slack yet"

    @property
    def request_url(self) -> str | None:
        if self._http is None:
            return None
        return f"http://127.0.0.1:{self._http.server_address[1]}{EVENTS_PATH}"

    def start(self) -> None:
        if self.mode is SlackMode.SOCKET:
            # A 5 s ping (Bolt's default is 10) notices a dead connection sooner.
            self._socket = SocketModeHandler(self.app, self._app_token, concurrency=16,
                                             ping_interval=5)
            self._socket.connect()  # type: ignore[no-untyped-call]
            return
        handler = type("EventsHandler", (_EventsHandler,),
                       {"app": self.app, "verifier": self._verifier})
        self._http = _Server((self.host, self._port), handler)
        threading.Thread(target=self._http.serve_forever, name="http", daemon=True).start()

    def stop(self) -> None:
        if self._socket is not None:
            self._socket.close()  # type: ignore[no-untyped-call]
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()


@contextmanager
def slack_refusals() -> Iterator[None]:
    """Slack refusing a token, as a sentence rather than a traceback."""
    try:
        yield
    except (BoltError, SlackClientError) as exc:
        raise GiveUp(f"Slack refused to start the bot: {exc}",
                     "Check SLACK_BOT_TOKEN and SLACK_APP_TOKEN; `mesh-upgrade-bot doctor "
                     "--config FILE` shows what is wrong.") from None
