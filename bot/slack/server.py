"""Slack's way in: the Bolt app, served over Socket Mode or behind HTTP.

Bolt's listener threads only parse and ack (handlers/); a dedicated, larger listener executor
keeps acks fast under load (Bolt's default is 5 threads shared with lazy listeners). HTTP mode
serves `/slack/events` from a threading server and Bolt verifies each request's signature and
timestamp (401 otherwise); Socket Mode needs no public endpoint. One `@app.error` answers with
a reference id and logs the trace; nothing of it reaches the channel.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.config.settings import SlackMode
from bot.slack.client import ack_kind
from bot.slack.notifier import answer_failure
from bot.upgrade.errors import GiveUp

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
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

    @app.error
    def handle_errors(error: Exception, body: dict[str, Any]) -> None:
        url = body.get("response_url") if isinstance(body, dict) else None
        answer_failure(url if isinstance(url, str) else None, "unhandled error", error)

    return app


class _EventsHandler(BaseHTTPRequestHandler):
    app: App  # set on the subclass made per server

    def do_POST(self) -> None:
        if self.path.split("?")[0] != EVENTS_PATH:
            self._answer(404, b"not found", "text/plain")
            return
        size = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(size, 1_000_000)).decode("utf-8", "replace")
        headers: dict[str, str | Sequence[str]] = {k.lower(): [v]
                                                   for k, v in self.headers.items()}
        response = self.app.dispatch(BoltRequest(body=body, headers=headers))
        content_type = (response.headers.get("content-type") or ["text/plain"])[0]
        self._answer(response.status, (response.body or "").encode(), content_type)

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


class SlackServer:
    """Serves the app: a Socket Mode connection, or `/slack/events` on `host:port`."""

    def __init__(self, app: App, mode: SlackMode, app_token: str | None, port: int = 0) -> None:
        self.app, self.mode, self._app_token, self._port = app, mode, app_token, port
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
        handler = type("EventsHandler", (_EventsHandler,), {"app": self.app})
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
