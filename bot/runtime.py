"""The running bot without Slack's framework: store, engine, notifier, workers and timetable.

`build_services` wires them; handlers receive the `Services` and hand work to `submit`, which
runs it on the bot's own worker pool (never Bolt's listener threads) and turns any failure into
an ephemeral answer: a known error says what and what to do, anything else only a reference id
that is also in the log (no stack trace reaches the channel).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient

from bot.config import BotConfig
from bot.driver import Driver
from bot.errors import MeshUpgradeError
from bot.membership import Membership
from bot.notifier import Notifier
from bot.reporting import refresh_facts
from bot.scheduler import Scheduler
from bot.store import Run, Store
from bot.upgrade import Phase, is_terminal
from bot.workflow import Workflow

log = logging.getLogger(__name__)
CENSUS_ON = frozenset({Phase.CANARY_READY, Phase.VERIFYING, Phase.PATCH_VERIFYING})


def reference_id() -> str:
    return uuid.uuid4().hex[:10]


def failure_text(reference: str) -> str:
    return (f":x: Something went wrong on the bot's side (reference `{reference}`). "
            "Nothing else was changed; tell the bot's operators the reference.")


def error_text(exc: MeshUpgradeError) -> str:
    return f":warning: {exc.message}" + (f"\n{exc.hint}" if exc.hint else "")


@dataclass(frozen=True)
class Timing:
    """How often the bot looks: production defaults; the sandbox and tests go faster."""

    drive_every: float = 1.0  # the drive-runs job
    max_wait: float = 30.0  # longest a driver waits before looking at a run again
    check_every: dict[str, float] = field(default_factory=dict)  # cluster -> seconds


@dataclass
class Services:
    config: BotConfig
    store: Store
    workflow: Workflow
    notifier: Notifier
    membership: Membership
    scheduler: Scheduler
    driver: Driver = field(init=False)
    work: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(4, thread_name_prefix="work"))

    def __post_init__(self) -> None:
        self.driver = Driver(self.workflow, self.on_step)

    def submit(self, respond_to: str | None, fn: Callable[..., Any], *args: Any) -> Future[None]:
        """Run `fn(*args)` after the ack, on the bot's worker pool."""

        def guarded() -> None:
            try:
                fn(*args)
            except MeshUpgradeError as exc:
                self.notifier.respond(respond_to, error_text(exc))
            except Exception:
                ref = reference_id()
                log.exception("reference %s: %s failed", ref, getattr(fn, "__name__", fn))
                self.notifier.respond(respond_to, failure_text(ref))

        return self.work.submit(guarded)

    def on_step(self, before: Run, after: Run) -> None:
        """After a step: what the card shows, the thread, and the run's jobs."""
        moved = before.phase is not after.phase
        if moved or self.notifier.facts(after.id).planes == ():
            census = after.phase in CENSUS_ON or is_terminal(after.phase)
            try:
                refresh_facts(self.workflow, self.notifier, after, census)
            except MeshUpgradeError as exc:
                log.warning("run %s: cannot read the cluster for the card: %s", after.id, exc)
        self.notifier.sync(after.id)
        entered = self.store.history(after.id)[-1].at
        self.scheduler.reconcile(after, entered)

    def start(self) -> None:
        self.scheduler.start()
        for run in self.store.active_runs():
            self.driver.poke(run.id)

    def close(self) -> None:
        self.driver.close()
        self.scheduler.shutdown()
        self.work.shutdown(wait=False, cancel_futures=True)


def build_services(config: BotConfig, store: Store, workflow: Workflow, client: WebClient,
                   database_url: str, timing: Timing | None = None) -> Services:
    timing = timing or Timing()
    scheduler = Scheduler(config, database_url, timing.drive_every, timing.check_every)
    services = Services(config, store, workflow, Notifier(client, store, config),
                        Membership(client), scheduler)
    services.driver.max_wait = timing.max_wait
    return services
