"""The running bot without Slack's framework: store, engine, notifier, workers and timetable.

`build_services` wires them; handlers receive the `Services` and hand work to `submit`, which
runs it on the bot's own worker pool (never Bolt's listener threads) and turns any failure into
an ephemeral answer: a known error says what and what to do, anything else only a reference id
that is also in the log (no stack trace reaches the channel). With several replicas
`activate`/`deactivate` (the Lease won or lost, bot/kube/lease.py) start and stop the active work:
driving runs and the scheduler's jobs; answering Slack and recording approvals go on regardless.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bot.config.settings import BotConfig
from bot.fleet.runs import FleetPhase
from bot.kube.census_pool import CensusPool
from bot.runtime.driver import Driver
from bot.runtime.fleets import FleetPilot
from bot.runtime.home_tabs import HomeTabs
from bot.runtime.intents import recover_intents
from bot.runtime.scheduler import Scheduler
from bot.slack.fleet.notifier import FleetNotifier
from bot.slack.membership import Membership
from bot.slack.notifier import Notifier, answer_failure, error_text
from bot.slack.reporting import refresh_facts
from bot.store.repository import Store
from bot.upgrade.approvals import expires_at, remind_at
from bot.upgrade.errors import MeshUpgradeError, RetryLater
from bot.upgrade.phases import Action, Phase, is_terminal
from bot.upgrade.records import Run
from bot.workflow.approvals import requested_at
from bot.workflow.fleet.people import FleetWorkflow
from bot.workflow.fleet.records import FleetLook
from bot.workflow.runner import Workflow

log = logging.getLogger(__name__)
CATCH_UP_EVERY = 10.0  # seconds between looks at finished runs' cards and threads
RECENT_RUNS = 3  # finished runs looked at per configured cluster (in one query)
CENSUS_ON = frozenset({Phase.CANARY_READY, Phase.VERIFYING, Phase.PATCH_VERIFYING})


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
    fleets: FleetWorkflow = field(init=False)  # fleet runs (bot/workflow/fleet_runs.py)
    pilot: FleetPilot = field(init=False)  # moves them on the drive tick
    home: HomeTabs = field(init=False)  # the App Home tabs, republished as runs change
    active: bool = field(default=False, init=False)  # drives runs and runs jobs: it leads
    work: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(4, thread_name_prefix="work"))
    census_pool: CensusPool | None = None  # the worker process censuses run in, if any
    _caught_up: float = field(default=0.0, init=False)  # monotonic time of the last catch_up

    def __post_init__(self) -> None:
        self.driver = Driver(self.workflow, self.on_step)
        self.fleets = FleetWorkflow(self.workflow)
        self.pilot = FleetPilot(self.fleets, FleetNotifier(self.notifier, self.fleets,
                                                           self.config))
        self.home = HomeTabs(self.store, self.config, self.workflow.reads,
                             self.notifier, self.membership)
        self.notifier.on_change = self.home.changed
        self.pilot.on_look = self.reschedule_fleet

    def submit(self, respond_to: str | None, fn: Callable[..., Any], *args: Any) -> Future[None]:
        """Run `fn(*args)` after the ack, on the bot's worker pool."""

        def guarded() -> None:
            try:
                fn(*args)
            except RetryLater as exc:  # nobody retries a person's request on their behalf
                self.notifier.respond(respond_to, f":warning: {exc.message}\nNothing was "
                                      f"changed; try again in about {exc.delay_seconds:g} s.")
            except MeshUpgradeError as exc:
                self.notifier.respond(respond_to, error_text(exc))
            except Exception as exc:
                answer_failure(respond_to, f"{getattr(fn, '__name__', fn)} failed", exc)

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
        self.reschedule(after)
        if isinstance(fleet_run := after.options.get("fleet_run"), int):
            self.pilot.poke(fleet_run)  # its fleet's card shows the run's phase

    def catch_up(self) -> None:
        """Cards and threads of recently finished runs that a Slack failure or a restart left
        behind: nothing else looks at a run once it is over (at most every CATCH_UP_EVERY)."""
        now = time.monotonic()
        if now - self._caught_up < CATCH_UP_EVERY:
            return
        self._caught_up = now
        for run in self.store.latest_runs(RECENT_RUNS * len(self.config.clusters)):
            if is_terminal(run.phase) and self.notifier.owes(run.id):
                try:
                    self.notifier.sync(run.id)
                except Exception as exc:  # Slack still failing: the next look retries
                    log.warning("run %s: card or thread still behind: %s", run.id, exc)

    def reschedule(self, run: Run) -> None:
        """The run's jobs as its phase needs them, each approval's from when it was asked."""
        asked = {a: requested_at(self.store, run, a)
                 for a in run.actions() - {Action.CANCEL, Action.RETRY}}
        self.scheduler.reconcile(run, asked)

    def reschedule_fleet(self, look: FleetLook) -> None:
        """A promotion request's reminder and expiry notice, once per request."""
        run = look.run
        if run.phase is not FleetPhase.AWAITING_PROMOTION or run.asked_at is None:
            return
        policy = self.config.fleet(run.fleet).promotion.policy()
        stamp = f"{run.id}:{run.asked_at.timestamp():.6f}"
        for what, at in (("remind", remind_at(policy, run.asked_at)),
                         ("expire", expires_at(policy, run.asked_at))):
            self.scheduler.once(f"fleet-{what}:{stamp}", at, f"{what}_promotion", run.id,
                                run.asked_at.isoformat())

    def start(self, active: bool = True) -> None:
        """Start; a replica waiting for the Lease starts passive (`active=False`)."""
        self.driver.pause()
        self.scheduler.start(paused=True)
        recover_intents(self.store, self.notifier, self.config)
        if active:
            self.activate()

    def activate(self) -> None:
        self.active = True
        self.driver.resume()
        self.scheduler.activate()
        for run in self.store.active_runs():
            self.driver.poke(run.id)

    def deactivate(self) -> None:
        self.active = False
        self.driver.pause()
        self.scheduler.deactivate()

    def close(self) -> None:
        self.driver.close()
        self.home.close()
        self.scheduler.shutdown()
        self.work.shutdown(wait=False, cancel_futures=True)
        if self.census_pool is not None:
            self.census_pool.close()


def build_services(config: BotConfig, store: Store, workflow: Workflow, notifier: Notifier,
                   membership: Membership, database_url: str,
                   timing: Timing | None = None) -> Services:
    timing = timing or Timing()
    scheduler = Scheduler(config, database_url, timing.drive_every, timing.check_every)
    services = Services(config, store, workflow, notifier, membership, scheduler)
    services.driver.max_wait = timing.max_wait
    return services
