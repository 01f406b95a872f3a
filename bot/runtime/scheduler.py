"""The bot's durable timetable: APScheduler 3.x with its jobs in the bot's own database.

A persisted job names its route (`check_run`, with the run id as its argument) and is stored
with the text reference of `routed_job`; the scheduler's executor hands it to the callable that
`route()` registered (handlers/jobs.py), so no module global holds the running bot. Jobs have
explicit ids derived from what they are about (`check:<run>`, `drift:<cluster>`,
`remind:<run>:<version>:<action>:<asked>` and `expire:...`), and run with `coalesce=True,
max_instances=1`: after a restart the job store gives back the same jobs, and missed firings
collapse into one. `reconcile(run)` makes the jobs match the run's phase, so
it can be called any number of times (after every step, and for every active run at start).
Replicas share the job store but only the leader processes it: a follower starts paused
(it can still read jobs, e.g. the next check's time) and `activate()` resumes it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.base import BaseJobStore, JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.config.settings import BotConfig
from bot.store.tables import lock_schema
from bot.upgrade.approvals import expires_at, remind_at
from bot.upgrade.phases import Action, Phase, is_terminal
from bot.upgrade.records import Run

log = logging.getLogger(__name__)
ROUTED = f"{__name__}:routed_job"
CHECKED = frozenset({Phase.VERIFYING, Phase.AWAITING_DECISION})
DRIVE_ID = "drive-runs"


Route = Callable[..., None]


def routed_job(route: str, *args: Any) -> None:
    """What a persisted job names; only the scheduler's executor runs jobs (by their route)."""
    raise RuntimeError(f"job route {route!r} was called outside the scheduler")


@dataclass(frozen=True)
class _RoutedJob:
    """A due job as APScheduler's `run_job` reads it, with the route's callable as its func."""

    job: Job
    func: Callable[..., None]

    def __getattr__(self, name: str) -> Any:  # id, args, kwargs, misfire_grace_time, ...
        if name == "args":
            return tuple(self.job.args[1:])
        return getattr(self.job, name)

    def __str__(self) -> str:
        return str(self.job)


class _RoutingExecutor(ThreadPoolExecutor):  # type: ignore[misc]  # APScheduler is untyped
    def __init__(self, routes: Mapping[str, Route], workers: int = 4) -> None:
        super().__init__(workers)
        self._routes = routes

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        route = job.args[0] if job.args else None
        func = self._routes.get(route) if isinstance(route, str) else None
        if func is None:  # not routed yet (starting) or a job from an older version
            log.warning("job %s: no route %r; skipped", job.id, route)
            func = _skip
        super()._do_submit_job(_RoutedJob(job, func), run_times)


def _skip(*_args: Any) -> None:
    pass


class _Timetable(BackgroundScheduler):  # type: ignore[misc]
    """APScheduler's loop thread ends for good on any exception out of `_process_jobs`.

    Two ways a JobLookupError gets there (APScheduler 3.x, schedulers/base.py): a job store
    shared with a replica or a restarted bot holds no claim on a due job between
    `get_due_jobs` and `remove_job`/`update_job`, so the other scheduler may remove it first;
    and `shutdown()` wakes the loop for one more round (blocking.py `_main_loop`), in which
    `remove_job` looks only at pending jobs (and would push back a leader's recurring jobs).
    """

    def _process_jobs(self) -> float | None:
        if self.state == STATE_STOPPED:
            return None
        try:
            wait: float | None = super()._process_jobs()
        except JobLookupError as exc:  # gone already: the next round sees the store as it is
            log.info("scheduler: a due job was removed elsewhere (%s); looking again", exc)
            return 0.0
        except Exception:  # e.g. the database away: retry, as APScheduler does get_due_jobs
            log.exception("scheduler: processing the job store failed; retrying")
            return float(self.jobstore_retry_interval)
        return wait


def check_id(run_id: int) -> str:
    return f"check:{run_id}"


def approval_job_id(what: str, run_id: int, version: int, action: Action,
                    asked: datetime) -> str:
    """`remind:<run>:<version>:<action>:<asked>` (or `expire:`): one per request."""
    return f"{what}:{run_id}:{version}:{action.value}:{asked.timestamp():.6f}"


def job_store(url: str) -> BaseJobStore:
    """The store's database (SQLite file or PostgreSQL); in memory for `sqlite://`."""
    if url in ("sqlite://", "sqlite:///:memory:"):
        return MemoryJobStore()
    return SQLAlchemyJobStore(url=url, engine_options={"connect_args": {"timeout": 15}}
                              if url.startswith("sqlite") else None)


class Scheduler:
    def __init__(self, config: BotConfig, url: str, drive_every: float = 1.0,
                 check_every: dict[str, float] | None = None) -> None:
        self.config = config
        self.drive_every = drive_every
        self._check_every = check_every or {}
        self._store = job_store(url)
        self._routes: dict[str, Route] = {}
        self.aps = _Timetable(
            jobstores={"default": self._store},
            executors={"default": _RoutingExecutor(self._routes)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
            timezone=UTC)

    def route(self, routes: Mapping[str, Route]) -> None:
        """What runs each job (`check_run`, `drive_runs`, ...), before `start`."""
        self._routes.update(routes)

    def start(self, paused: bool = False) -> None:
        store = self._store
        if isinstance(store, SQLAlchemyJobStore):  # replicas starting together race to create it
            with store.engine.begin() as conn:
                lock_schema(conn)
                store.jobs_t.create(conn, checkfirst=True)
        self.aps.start(paused=paused)
        if not paused:
            self._add_standing_jobs()

    def activate(self) -> None:
        """This replica leads: its timetable runs (what is due since is run once, coalesced)."""
        self._add_standing_jobs()
        self.aps.resume()

    def deactivate(self) -> None:
        """Another replica leads (or none): run nothing more; a job already running ends."""
        if self.aps.running:
            self.aps.pause()

    def _add_standing_jobs(self) -> None:
        self.aps.add_job(ROUTED, IntervalTrigger(seconds=self.drive_every),
                         args=["drive_runs"], id=DRIVE_ID, replace_existing=True)
        for cluster in self.config.clusters:
            drift = cluster.patch_drift
            job = f"drift:{cluster.name}"
            if drift.enabled:
                self.aps.add_job(ROUTED,
                                 CronTrigger.from_crontab(drift.cron, timezone=drift.timezone),
                                 args=["check_patch_drift", cluster.name], id=job,
                                 replace_existing=True)
            else:
                self._remove(job)

    def shutdown(self) -> None:
        if self.aps.running:
            self.aps.shutdown(wait=False)

    def check_interval(self, cluster: str) -> float:
        default = self.config.cluster(cluster).check_interval.total_seconds()
        return self._check_every.get(cluster, default)

    def next_check_at(self, run_id: int) -> datetime | None:
        job = self.aps.get_job(check_id(run_id))
        return None if job is None else job.next_run_time

    def reconcile(self, run: Run,
                  requested_at: datetime | Mapping[Action, datetime] | None = None) -> None:
        """Make the run's jobs what its phase needs: checks while soaking and deciding,
        a reminder and an expiry notice per pending approval (from when it was asked for:
        one time for all, or per action), nothing once it is over."""
        if run.phase in CHECKED and self.aps.get_job(check_id(run.id)) is None:
            every = self.check_interval(run.cluster)
            self.aps.add_job(ROUTED, IntervalTrigger(seconds=every),
                             args=["check_run", run.id], id=check_id(run.id), replace_existing=True,
                             next_run_time=datetime.now(UTC))
        elif run.phase not in CHECKED:
            self._remove(check_id(run.id))
        if is_terminal(run.phase) or requested_at is None:
            return
        for action in run.actions() - {Action.CANCEL, Action.RETRY}:
            asked = requested_at if isinstance(requested_at, datetime) \
                else requested_at.get(action)
            if asked is not None:
                policy = self.config.cluster(run.cluster).approval_policy(action)
                self._once(run, action, asked, "remind", remind_at(policy, asked))
                self._once(run, action, asked, "expire", expires_at(policy, asked))

    def _once(self, run: Run, action: Action, asked: datetime, what: str, at: datetime) -> None:
        """The route `<what>_approval` at `at` for this request (a renewed request is a
        new job; the old one sees that its request is gone and says nothing)."""
        self.once(approval_job_id(what, run.id, run.version, action, asked), at,
                  f"{what}_approval", run.id, action.value, run.version, asked.isoformat())

    def once(self, job: str, at: datetime, route: str, *args: Any) -> None:
        """`route(*args)` once at `at`, unless that is past or the job is already there."""
        if at <= datetime.now(UTC) or self.aps.get_job(job) is not None:
            return
        self.aps.add_job(ROUTED, DateTrigger(at), id=job, args=[route, *args],
                         replace_existing=True,
                         misfire_grace_time=int(timedelta(hours=1).total_seconds()))

    def _remove(self, job: str) -> None:
        with contextlib.suppress(JobLookupError):
            self.aps.remove_job(job)
