"""`mesh-upgrade-bot run`: the composition root of the Slack bot.

It builds every part from the configuration and the environment (store, workflow and its
adapters, Slack client, services, the Bolt app with handlers/ registered on it, metrics, leader
election), serves /healthz, /livez and /metrics on `--ops-port` (bot/runtime/ops.py) and logs
JSON lines with every secret masked (bot/runtime/logs.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

import handlers
from bot.azure.connect import ENV_CLIENT_SECRET, ArmEndpoint
from bot.cli.wiring import build_elector, build_workflow
from bot.config.settings import ENV_SLACK_API, BotConfig, SlackMode
from bot.kube.census_pool import CensusPool
from bot.kube.lease import Elector
from bot.runtime.bot import Bot
from bot.runtime.events import EventLog
from bot.runtime.logs import setup_logging
from bot.runtime.metrics import Metrics, count_phases
from bot.runtime.services import Services, Timing, build_services
from bot.slack.client import build_client
from bot.slack.membership import Membership
from bot.slack.notifier import Notifier
from bot.slack.server import SlackServer, build_app, slack_refusals
from bot.store.repository import Store, create_store
from bot.upgrade.errors import GiveUp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlackAccess:
    bot_token: str
    app_token: str | None = None
    signing_secret: str | None = None
    api_url: str | None = None  # None: slack.com


def build_bot(config: BotConfig, slack: SlackAccess, mode: SlackMode, database_url: str,
              timing: Timing | None = None, port: int = 0, arm: ArmEndpoint | None = None) -> Bot:
    metrics = Metrics(active=lambda: False)  # the adapters below count their errors here
    store = create_store(database_url)
    census = CensusPool()  # censuses parse in a worker process: acks never wait on them
    workflow = build_workflow(config, store, arm, census, metrics, EventLog(metrics))
    client = build_client(slack.bot_token, slack.api_url, on_error=metrics.counter_of("slack"))
    services = build_services(config, store, workflow, Notifier(client, store, config),
                              Membership(client), database_url, timing)
    metrics.observe_state(lambda: count_phases(services.store.active_runs()),
                          lambda: services.active, lambda: fleet_rows(config, services.store))
    services.census_pool = census
    census.warm_up()
    app = build_app(client, mode, slack.signing_secret, metrics.observe_ack)
    handlers.register(app, services)
    server = SlackServer(app, mode, slack.app_token, port,
                         slack.signing_secret if mode is SlackMode.HTTP else None)
    return Bot(services, server, metrics, _elector(config, services, database_url))


def fleet_rows(config: BotConfig, store: Store) -> list[tuple[str, str, str]]:
    """(fleet, phase, current ring) of each fleet run under way, for /metrics."""
    return [(r.fleet, r.phase.value, config.fleet(r.fleet).rings[r.ring].name)
            for r in store.fleets.active_runs()]


def _elector(config: BotConfig, services: Services, database_url: str) -> Elector | None:
    if config.leader_election.enabled:
        return build_elector(config.leader_election, services.activate, services.deactivate)
    if not database_url.startswith("sqlite"):
        log.warning("a shared database without leader_election: run one replica only")
    return None


def run_bot(args: argparse.Namespace, out: TextIO) -> int:
    from bot.config.settings import database_url, load_config, load_secrets, reveal

    config = load_config(args.config)
    mode = SlackMode(args.mode) if args.mode else config.slack.mode
    secrets = load_secrets(mode)
    slack = SlackAccess(reveal(secrets.slack_bot_token) or "",
                        reveal(secrets.slack_app_token) or None,
                        reveal(secrets.slack_signing_secret) or None,
                        os.environ.get(ENV_SLACK_API) or None)
    setup_logging(args.log_level, args.log_format, [
        slack.bot_token, slack.app_token, slack.signing_secret,
        reveal(secrets.mesh_upgrade_database_url), os.environ.get(ENV_CLIENT_SECRET)])
    url = database_url(config, secrets)
    arm = ArmEndpoint.from_env()
    with startup_errors():
        bot = build_bot(config, slack, mode, url, Timing(args.drive_every, args.max_wait),
                        args.port, arm)
    bot.slack.host = args.host
    with startup_errors():
        bot.serve_ops(args.host, args.ops_port, url)
    return serve_until_stopped(bot, out)


@contextmanager
def startup_errors() -> Iterator[None]:
    """Slack refusing a token, or a port in use, as a sentence rather than a traceback."""
    try:
        with slack_refusals():
            yield
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
    out.write(banner or f"mesh-upgrade-bot running ({bot.slack.mode.value} mode"
              + (f", {bot.request_url}" if bot.request_url else "") + ops + ")\n")
    out.flush()
    stop.wait()
    bot.stop()
    return 0
