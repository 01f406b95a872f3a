"""The scheduler's loop thread outlives a job that is gone from the store before it is done.

APScheduler 3.x reads the due jobs, submits them, then removes a one-shot job or stores a
recurring one's next time (`BaseScheduler._process_jobs`), with no claim on the row in between:
a replica or a restarted bot sharing the job store may remove it first. And `shutdown()`
wakes the loop for one more round, in which `remove_job` fails. Either JobLookupError used to
escape `_process_jobs` and end the loop thread: no job ran again.
"""

from __future__ import annotations

import functools
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.cli.sandbox import sandbox_config
from bot.config.settings import BotConfig
from bot.runtime.scheduler import ROUTED, Scheduler
from tests.e2e.slack_harness import wait_until

# job id -> the scheduler that removes it while another is running it (see `_take_jobs`)
_TAKERS: dict[str, Scheduler] = {}


def _take_jobs() -> None:
    while _TAKERS:
        job_id, taker = _TAKERS.popitem()
        taker.aps.remove_job(job_id)


class _TakenDate(DateTrigger):  # type: ignore[misc]  # APScheduler is untyped
    """A one-shot time that, once fired, is removed by another scheduler: the loop asks the
    trigger for the next time (`_get_run_times`) between `get_due_jobs` and `remove_job`."""

    def get_next_fire_time(self, previous: datetime | None, now: datetime) -> Any:
        if previous is not None:
            _take_jobs()
        return super().get_next_fire_time(previous, now)


class _TakenInterval(IntervalTrigger):  # type: ignore[misc]
    """The same for a recurring job (the loop then calls `update_job`)."""

    def get_next_fire_time(self, previous: datetime | None, now: datetime) -> Any:
        if previous is not None:
            _take_jobs()
        return super().get_next_fire_time(previous, now)


def _config(url: str) -> BotConfig:
    described = {"clusters": [{"name": "prod", "subscription_id":
                               "00000000-0000-0000-0000-000000000000", "resource_group": "rg"}]}
    return sandbox_config(described, 4 * 3600.0, 1.0, url)


@pytest.fixture
def thread_errors(monkeypatch: pytest.MonkeyPatch) -> list[BaseException | None]:
    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    return errors


def _recording(scheduler: Scheduler, ran: list[tuple[str, Any]]) -> None:
    scheduler.route({"remind_approval": lambda *a: ran.append(("remind", a)),
                     "check_run": lambda *a: ran.append(("check", a)),
                     "drive_runs": lambda: None})


def _later_job_runs(scheduler: Scheduler, ran: list[tuple[str, Any]]) -> bool:
    """Whether the loop still runs jobs: one due in 0.2 s has run within 3 s."""
    scheduler.aps.add_job(ROUTED, DateTrigger(datetime.now(UTC) + timedelta(seconds=0.2)),
                          args=["remind_approval", "later"], id="remind:later")
    try:
        wait_until(lambda: ("remind", ("later",)) in ran, 3, "the later job")
    except Exception:
        return False
    return True


@pytest.mark.parametrize("shared", [True, False], ids=["sqlite-file", "memory"])
def test_loop_thread_survives_a_one_shot_job_removed_while_it_runs(
        tmp_path: Path, thread_errors: list[BaseException | None], shared: bool) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}" if shared else "sqlite://"
    runner = Scheduler(_config(url), url)
    taker = Scheduler(_config(url), url) if shared else runner  # a memory store is never shared
    ran: list[tuple[str, Any]] = []
    _recording(runner, ran)
    if runner is not taker:
        taker.start(paused=True)
    runner.start()
    try:
        _TAKERS["remind:1:3:roll"] = taker
        runner.aps.add_job(ROUTED, _TakenDate(datetime.now(UTC)), id="remind:1:3:roll",
                           args=["remind_approval", 1], misfire_grace_time=3600)
        wait_until(lambda: ("remind", (1,)) in ran, 5, "the reminder")
        assert _later_job_runs(runner, ran), f"the loop thread died: {thread_errors}"
        assert thread_errors == []
        assert runner.aps.get_job("remind:1:3:roll") is None
    finally:
        _TAKERS.clear()
        runner.shutdown()
        taker.shutdown()


def test_loop_thread_survives_a_recurring_check_removed_while_it_runs_and_it_stays_removed(
        tmp_path: Path, thread_errors: list[BaseException | None]) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    runner, taker = Scheduler(_config(url), url), Scheduler(_config(url), url)
    ran: list[tuple[str, Any]] = []
    _recording(runner, ran)
    taker.start(paused=True)
    runner.start()
    try:
        _TAKERS["check:7"] = taker  # e.g. the run ended and the other replica reconciled it
        runner.aps.add_job(ROUTED, _TakenInterval(hours=1), id="check:7",
                           args=["check_run", 7], next_run_time=datetime.now(UTC))
        wait_until(lambda: ("check", (7,)) in ran, 5, "the check")
        assert _later_job_runs(runner, ran), f"the loop thread died: {thread_errors}"
        assert thread_errors == []
        assert runner.aps.get_job("check:7") is None and taker.aps.get_job("check:7") is None
    finally:
        _TAKERS.clear()
        runner.shutdown()
        taker.shutdown()


def test_a_paused_replica_shutting_down_leaves_the_due_jobs_as_they_were(
        tmp_path: Path, thread_errors: list[BaseException | None]) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    follower, reader = Scheduler(_config(url), url), Scheduler(_config(url), url)
    follower.start(paused=True)
    reader.start(paused=True)
    try:
        due = datetime.now(UTC) - timedelta(seconds=1)
        follower.aps.add_job(ROUTED, DateTrigger(due), id="remind:1:3:roll",
                             args=["remind_approval", 1], misfire_grace_time=3600)
        follower.aps.add_job(ROUTED, IntervalTrigger(hours=1), id="check:7",
                             args=["check_run", 7], next_run_time=due)
        follower.shutdown()  # wakes its loop once more (APScheduler's blocking.py)
        assert thread_errors == []
        assert reader.aps.get_job("remind:1:3:roll") is not None
        assert reader.aps.get_job("check:7").next_run_time == due
    finally:
        reader.shutdown()


def _all_ran_and_removed(scheduler: Scheduler, ids: list[str],
                         ran: list[tuple[str, Any]]) -> bool:
    return all(("remind", (i,)) in ran and scheduler.aps.get_job(i) is None for i in ids)


def test_two_schedulers_sharing_a_sqlite_store_both_run_on_after_the_same_due_one_shot_jobs(
        tmp_path: Path, thread_errors: list[BaseException | None]) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    first, second = (Scheduler(_config(url), url, drive_every=0.02) for _ in range(2))
    ran: list[tuple[str, Any]] = []
    for scheduler in (first, second):
        _recording(scheduler, ran)
        scheduler.start()
    try:
        for round_ in range(5):
            due = datetime.now(UTC) + timedelta(seconds=0.3)
            ids = [f"remind:{round_}:{n}" for n in range(10)]
            for job_id in ids:
                first.aps.add_job(ROUTED, DateTrigger(due), id=job_id,
                                  args=["remind_approval", job_id], misfire_grace_time=3600)
            wait_until(functools.partial(_all_ran_and_removed, first, ids, ran), 5,
                       "every reminder run and removed")
        assert thread_errors == []
        assert first.aps._thread.is_alive() and second.aps._thread.is_alive()
    finally:
        first.shutdown()
        second.shutdown()
