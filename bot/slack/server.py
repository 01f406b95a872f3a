"""Slack's way in: the Bolt app, served over Socket Mode or behind HTTP.

Bolt's listener threads only parse and ack (handlers/); a dedicated, larger listener executor
keeps acks fast under load (Bolt's default is 5 threads shared with lazy listeners). HTTP mode
serves `/slack/events` through Bolt's WSGI adapter behind waitress (bot/slack/http_server.py:
body and header limits, request timeouts, a graceful stop, and a 401 for whatever Slack did not
sign before Bolt parses it). Socket Mode needs no public endpoint. One `@app.error` answers with
a reference id and logs the trace; nothing of it reaches the channel, and in HTTP mode it
answers only a request that was signed (never a response_url from an unverified body).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from slack_sdk.signature import SignatureVerifier

from bot.config.settings import SlackMode
from bot.slack.client import ack_kind
from bot.slack.http_server import EVENTS_PATH, EventsServer, events_app, signed
from bot.slack.notifier import answer_failure
from bot.upgrade.errors import GiveUp

log = logging.getLogger(__name__)
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


class SlackServer:
    """Serves the app: a Socket Mode connection, or `/slack/events` on `host:port`."""

    def __init__(self, app: App, mode: SlackMode, app_token: str | None, port: int = 0,
                 signing_secret: str | None = None) -> None:
        self.app, self.mode, self._app_token, self._port = app, mode, app_token, port
        self._verifier = SignatureVerifier(signing_secret) if signing_secret else None
        self.host = "127.0.0.1"  # where HTTP mode listens; `run` listens on every interface
        self._socket: SocketModeHandler | None = None
        self._http: EventsServer | None = None

    def connected(self) -> tuple[bool, str]:
        """Whether Slack can reach the bot now, and how (the ops endpoint's `slack` probe)."""
        if self._socket is not None:
            up = self._socket.client.is_connected()
            return up, "Socket Mode connected" if up else "Socket Mode disconnected"
        if self._http is not None:
            if self._http.draining:
                return False, f"stopping: {EVENTS_PATH} takes no new requests"
            return True, f"serving {EVENTS_PATH} on port {self._http.port}"
        return False, "not connected to Slack yet"

    @property
    def request_url(self) -> str | None:
        if self._http is None:
            return None
        return f"http://127.0.0.1:{self._http.port}{EVENTS_PATH}"

    def start(self) -> None:
        if self.mode is SlackMode.SOCKET:
            # A 5 s ping (Bolt's default is 10) notices a dead connection sooner.
            self._socket = SocketModeHandler(self.app, self._app_token, concurrency=16,
                                             ping_interval=5)
            self._socket.connect()  # type: ignore[no-untyped-call]
            return
        self._http = EventsServer(events_app(self.app, self._verifier), self.host, self._port)
        self._http.start()

    def stop(self) -> None:
        if self._socket is not None:
            self._socket.close()  # type: ignore[no-untyped-call]
        if self._http is not None:  # in-flight requests finish (bounded), new ones are refused
            self._http.stop()


@contextmanager
def slack_refusals() -> Iterator[None]:
    """Slack refusing a token, as a sentence rather than a traceback."""
    try:
        yield
    except (BoltError, SlackClientError) as exc:
        raise GiveUp(f"Slack refused to start the bot: {exc}",
                     "Check SLACK_BOT_TOKEN and SLACK_APP_TOKEN; `mesh-upgrade-bot doctor "
                     "--config FILE` shows what is wrong.") from None
