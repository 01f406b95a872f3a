"""The Bolt app, in Socket Mode or behind HTTP, around the bot's services; and `run`.

Bolt's listener threads only parse and ack (handlers/); a dedicated, larger listener executor
keeps acks fast under load (Bolt's default is 5 threads shared with lazy listeners). HTTP mode
serves `/slack/events` from a threading server and Bolt verifies each request's signature and
timestamp (401 otherwise); Socket Mode needs no public endpoint. One `@app.error` answers with
a reference id and logs the trace; nothing of it reaches the channel. In both modes `run` also
serves /healthz, /livez and /metrics on `--ops-port` (bot/ops.py) and logs JSON lines with
every secret masked (bot/logs.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.cli.main import subcommand
from bot.cli.wiring import ArmEndpoint, build_elector
from bot.config.settings import BotConfig, SlackMode
from bot.kube.census_pool import CensusPool
from bot.kube.lease import Elector
from bot.runtime.logs import setup_logging
from bot.runtime.metrics import Metrics, count_phases
from bot.runtime.ops import DEFAULT_PORT, Check, OpsServer, Probe, database_probe, scheduler_probe
from bot.runtime.services import Services, Timing, answer_failure, build_services
from bot.slack.client import ack_kind, build_client
from bot.upgrade.errors import GiveUp
from handlers import actions, commands, jobs

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
ACK_SWITCH_INTERVAL = 0.001
ENV_SLACK_API = "MESH_UPGRADE_SLACK_API_URL"  # a Slack-compatible API (the simulator)


class _TimedApp(App):
    """Bolt's App, timing each request from its arrival to the ack (`dispatch` returns once
    the listener acked, as process_before_response is off) for the ack latency histogram."""

    metrics: Metrics | None = None

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        started = time.perf_counter()
        response = super().dispatch(req)
        if self.metrics is not None and response.status == 200:
            self.metrics.observe_ack(ack_kind(req.body), time.perf_counter() - started)
        return response


def build_app(services: Services, client: WebClient, mode: SlackMode,
              signing_secret: str | None, metrics: Metrics | None = None) -> App:
    if mode is SlackMode.HTTP and not signing_secret:  # Bolt would check against an empty key
        raise GiveUp("HTTP mode needs the signing secret to verify Slack's requests.",
                     "Set SLACK_SIGNING_SECRET (Basic Information > App Credentials).")
    app = _TimedApp(client=client, signing_secret=signing_secret or "",
              request_verification_enabled=mode is SlackMode.HTTP,
              token_verification_enabled=True, process_before_response=False,
              listener_executor=ThreadPoolExecutor(32, thread_name_prefix="bolt"))
    app.metrics = metrics
    commands.register(app, services)
    actions.register(app, services)

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


class Bot:
    """The running bot: services, the scheduler's jobs, and Slack's way in."""

    def __init__(self, services: Services, app: App, mode: SlackMode, app_token: str | None,
                 port: int = 0, elector: Elector | None = None,
                 metrics: Metrics | None = None) -> None:
        self.services, self.app, self.mode = services, app, mode
        self._app_token, self._port = app_token, port
        self.elector = elector  # None: a single replica, always active
        self._socket: SocketModeHandler | None = None
        self._http: _Server | None = None
        self.host = "127.0.0.1"  # where HTTP mode listens; `run` listens on every interface
        self.metrics = metrics or bot_metrics(services)
        self.ops: OpsServer | None = None  # /healthz and /metrics, when `serve_ops` was called

    def serve_ops(self, host: str, port: int, database_url: str) -> OpsServer:
        """Serve /healthz, /livez and /metrics on `host:port` from `start()` on."""
        probes: dict[str, Probe] = {"slack": self.slack_check,
                                    "scheduler": scheduler_probe(self.services),
                                    "database": database_probe(database_url)}
        self.ops = OpsServer(probes, self.metrics, host, port)
        return self.ops

    def slack_check(self) -> Check:
        if self._socket is not None:
            up = self._socket.client.is_connected()
            return Check(up, "Socket Mode connected" if up else "Socket Mode disconnected")
        if self._http is not None:
            return Check(True, f"serving {EVENTS_PATH} on port {self._http.server_address[1]}")
        return Check(False, "not connected to Slack yet")

    @property
    def request_url(self) -> str | None:
        if self._http is None:
            return None
        return f"http://127.0.0.1:{self._http.server_address[1]}{EVENTS_PATH}"

    def start(self) -> None:
        # A census parses 20,000 pods in a worker thread; with the default 5 ms GIL switch
        # interval each hop of an ack (socket read, Bolt dispatch, listener, ack) waits behind
        # it. 1 ms keeps acks fast at a small cost in throughput (bench/ack.py).
        sys.setswitchinterval(ACK_SWITCH_INTERVAL)
        if self.ops is not None:  # first: probes see 503 until Slack is connected
            self.ops.start()
        self.metrics.install()
        jobs.bind(self.services)
        self.services.start(active=self.elector is None)
        self._serve_slack()
        if self.elector is not None:  # every replica answers Slack; the leader also works
            self.elector.start()

    def _serve_slack(self) -> None:
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
        if self.elector is not None:  # stop working first, then hand the Lease over
            self.elector.stop()
        if self._socket is not None:
            self._socket.close()  # type: ignore[no-untyped-call]
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        self.services.close()
        jobs.unbind(self.services)
        self.metrics.uninstall()
        if self.ops is not None:
            self.ops.stop()


@dataclass(frozen=True)
class SlackAccess:
    bot_token: str
    app_token: str | None = None
    signing_secret: str | None = None
    api_url: str | None = None  # None: slack.com


def build_bot(config: BotConfig, slack: SlackAccess, mode: SlackMode, database_url: str,
              timing: Timing | None = None, port: int = 0, arm: ArmEndpoint | None = None) -> Bot:
    from bot.cli.wiring import build_workflow
    from bot.store.repository import create_store

    store = create_store(database_url)
    census = CensusPool()  # censuses parse in a worker process: acks never wait on them
    workflow = build_workflow(config, store, arm, census)
    client = build_client(slack.bot_token, slack.api_url, counting=True)
    services = build_services(config, store, workflow, client, database_url, timing)
    services.census_pool = census
    census.warm_up()
    elector = None
    if config.leader_election.enabled:
        elector = build_elector(config.leader_election, services.activate, services.deactivate)
    elif not database_url.startswith("sqlite"):
        log.warning("a shared database without leader_election: run one replica only")
    metrics = bot_metrics(services)
    services.driver.on_advance = metrics.observe_step
    return Bot(services, build_app(services, client, mode, slack.signing_secret, metrics),
               mode, slack.app_token, port, elector, metrics)


def bot_metrics(services: Services) -> Metrics:
    return Metrics(lambda: count_phases(services.store.active_runs()), lambda: services.active)


# --- `mesh-upgrade-bot run` -------------------------------------------------------------------


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="the bot's YAML configuration")
    p.add_argument("--mode", choices=[m.value for m in SlackMode],
                   help="Socket Mode or HTTP (default: slack.mode in the configuration)")
    p.add_argument("--port", type=int, default=3000, help="HTTP mode: port of /slack/events")
    p.add_argument("--host", default="0.0.0.0",
                   help="address HTTP mode and the ops endpoints listen on (default: all)")
    p.add_argument("--ops-port", type=int, default=DEFAULT_PORT,
                   help=f"port of /healthz, /livez and /metrics (default {DEFAULT_PORT}; "
                        "0: a free port)")
    p.add_argument("--log-level", default=os.environ.get("MESH_UPGRADE_LOG_LEVEL", "INFO"),
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], type=str.upper)
    p.add_argument("--log-format", choices=["json", "text"], default="json",
                   help="json: one object per line (default); text: for a terminal")
    p.add_argument("--drive-every", type=float, default=1.0,
                   help="seconds between looks at active runs (tests use less)")
    p.add_argument("--max-wait", type=float, default=30.0,
                   help="longest wait before a run is looked at again")


@subcommand("run", "run the Slack bot (tokens from SLACK_* environment variables)", _run_args)
def run_bot(args: argparse.Namespace, out: TextIO) -> int:
    from bot.config.settings import database_url, load_config, load_secrets, reveal

    config = load_config(args.config)
    mode = SlackMode(args.mode) if args.mode else config.slack.mode
    secrets = load_secrets(mode)
    slack = SlackAccess(reveal(secrets.slack_bot_token) or "",
                        reveal(secrets.slack_app_token) or None,
                        reveal(secrets.slack_signing_secret) or None,
                        os.environ.get(ENV_SLACK_API) or None)
    arm = ArmEndpoint.from_env()
    setup_logging(args.log_level, args.log_format, [
        slack.bot_token, slack.app_token, slack.signing_secret, arm.token,
        reveal(secrets.mesh_upgrade_database_url)])
    url = database_url(config, secrets)
    with startup_errors():
        bot = build_bot(config, slack, mode, url, Timing(args.drive_every, args.max_wait),
                        args.port, arm)
    bot.host = args.host
    with startup_errors():
        bot.serve_ops(args.host, args.ops_port, url)
    return serve_until_stopped(bot, out)


@contextmanager
def startup_errors() -> Iterator[None]:
    """Slack refusing a token, or a port in use, as a sentence rather than a traceback."""
    try:
        yield
    except (BoltError, SlackClientError) as exc:
        raise GiveUp(f"Slack refused to start the bot: {exc}",
                     "Check SLACK_BOT_TOKEN and SLACK_APP_TOKEN; `mesh-upgrade-bot doctor "
                     "--config FILE` shows what is wrong.") from None
    except OSError as exc:
        raise GiveUp(f"Cannot start the bot: {exc}",
                     "Another process may hold the port; choose another with --port or "
                     "--ops-port.") from None


def serve_until_stopped(bot: Bot, out: TextIO, banner: str = "") -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with startup_errors():
        bot.start()
    ops = f", ops {bot.ops.url}" if bot.ops is not None else ""
    out.write(banner or f"mesh-upgrade-bot running ({bot.mode.value} mode"
              + (f", {bot.request_url}" if bot.request_url else "") + ops + ")\n")
    out.flush()
    stop.wait()
    bot.stop()
    return 0
