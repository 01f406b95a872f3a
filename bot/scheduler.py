"""The bot's durable timetable: APScheduler 3.x with its jobs in the bot's own database.

Jobs are referenced by text (`handlers.jobs:check_run`), have explicit ids derived from what
they are about (`check:<run>`, `remind:<run>:<version>:<action>`, `drift:<cluster>`), and run
with `coalesce=True, max_instances=1`: after a restart the job store gives back the same jobs,
and missed firings collapse into one. `reconcile(run)` makes the jobs match the run's phase, so
it can be called any number of times (after every step, and for every active run at start).
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import BaseJobStore, JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.approvals import remind_at
from bot.config import BotConfig
from bot.store import Run
from bot.upgrade import Action, Phase, allowed_actions, is_terminal

log = logging.getLogger(__name__)
JOBS = "handlers.jobs"
CHECKED = frozenset({Phase.VERIFYING, Phase.AWAITING_DECISION})
DRIVE_ID = "drive-runs"


def check_id(run_id: int) -> str:
    return f"check:{run_id}"


def remind_id(run_id: int, version: int, action: Action) -> str:
    return f"remind:{run_id}:{version}:{action.value}"


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
        self.aps = BackgroundScheduler(
            jobstores={"default": job_store(url)},
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
            timezone=UTC)

    def start(self) -> None:
        self.aps.start()
        self.aps.add_job(f"{JOBS}:drive_runs", IntervalTrigger(seconds=self.drive_every),
                         id=DRIVE_ID, replace_existing=True)
        for cluster in self.config.clusters:
            drift = cluster.patch_drift
            job = f"drift:{cluster.name}"
            if drift.enabled:
                self.aps.add_job(f"{JOBS}:check_patch_drift",
                                 CronTrigger.from_crontab(drift.cron, timezone=drift.timezone),
                                 args=[cluster.name], id=job, replace_existing=True)
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

    def reconcile(self, run: Run, requested_at: datetime | None = None) -> None:
        """Make the run's jobs what its phase needs: checks while soaking and deciding,
        a reminder per pending approval, nothing once it is over."""
        if run.phase in CHECKED and self.aps.get_job(check_id(run.id)) is None:
            every = self.check_interval(run.cluster)
            self.aps.add_job(f"{JOBS}:check_run", IntervalTrigger(seconds=every),
                             args=[run.id], id=check_id(run.id), replace_existing=True,
                             next_run_time=datetime.now(UTC))
        elif run.phase not in CHECKED:
            self._remove(check_id(run.id))
        if is_terminal(run.phase) or requested_at is None:
            return
        for action in allowed_actions(run.phase, run.kind) - {Action.CANCEL}:
            self._remind(run, action, requested_at)

    def _remind(self, run: Run, action: Action, requested_at: datetime) -> None:
        job = remind_id(run.id, run.version, action)
        at = remind_at(self.config.cluster(run.cluster).approval_policy(action), requested_at)
        if at <= datetime.now(UTC) or self.aps.get_job(job) is not None:
            return
        self.aps.add_job(f"{JOBS}:remind_approval", DateTrigger(at), id=job,
                         args=[run.id, action.value, run.version], replace_existing=True,
                         misfire_grace_time=int(timedelta(hours=1).total_seconds()))

    def _remove(self, job: str) -> None:
        with contextlib.suppress(JobLookupError):
            self.aps.remove_job(job)
