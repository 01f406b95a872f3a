"""The CronJob and Job controllers driven step by step on a clock the test moves (Store API):
cron schedules as robfig/cron reads them, the most recent missed time only, the starting
deadline, time zones, and the conditions a finished Job gets in 1.30 and from 1.31 on."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from meshsim.clock import SimClock
from meshsim.kube import batch, cron
from meshsim.kube.controllers.base import CRONJOB, JOB
from meshsim.kube.controllers.manager import Controllers
from meshsim.kube.controllers.runner import Settler
from meshsim.kube.defaults import apply_defaults
from meshsim.kube.resources import by_kind
from meshsim.kube.store import Obj, Store

NAMESPACE = by_kind("Namespace")


class SteppedClock(SimClock):
    """Simulated time that moves only when the test says so."""

    def __init__(self, start: str) -> None:
        super().__init__()
        self.at = datetime.fromisoformat(start).timestamp()

    def now(self) -> float:
        return self.at

    def move_to(self, stamp: str) -> None:
        self.at = datetime.fromisoformat(stamp).timestamp()


def cluster(start: str, minor: int = 30) -> tuple[Store, SteppedClock, Controllers]:
    clock = SteppedClock(start)
    store = Store(clock)
    store.admission.append(apply_defaults)
    store.create(NAMESPACE, {"metadata": {"name": "ops"}})
    return store, clock, Controllers(store, clock, minor=minor)


def jobs(store: Store) -> list[str]:
    return sorted(j["metadata"]["name"] for j in store.list(JOB, "ops"))


def minutes(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp).timestamp() // 60)


def utc(moment: str) -> datetime:
    return datetime.fromisoformat(moment).astimezone(UTC)


def test_cron_fields_follow_robfig_including_the_day_of_month_or_weekday_rule() -> None:
    workdays = cron.parse("*/15 9-17 * * MON-FRI")
    assert workdays.next_after(utc("2025-01-03T17:50:00+00:00")) == utc(  # Friday evening
        "2025-01-06T09:00:00+00:00")
    friday_13 = cron.parse("0 0 13 * 5")  # both restricted: the 13th OR any Friday
    assert friday_13.next_after(utc("2025-01-01T00:00:00+00:00")) == utc(
        "2025-01-03T00:00:00+00:00")
    assert cron.parse("0 0 13 * *").next_after(utc("2025-01-01T00:00:00+00:00")) == utc(
        "2025-01-13T00:00:00+00:00")
    assert cron.parse("@hourly") == cron.parse("0 * * * *")
    assert cron.parse("0 0 30 2 *").next_after(utc("2025-01-01T00:00:00+00:00")) is None
    for bad, message in (("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
                         ("0 24 * * *", "end of range (24) above maximum (23): 24"),
                         ("TZ=UTC 0 * * * *", "cannot use TZ or CRON_TZ in schedule")):
        with pytest.raises(cron.CronError, match=re.escape(message)):
            cron.parse(bad)


def test_a_cronjob_starts_only_the_most_recent_missed_time_named_by_its_minute() -> None:
    store, clock, controllers = cluster("2025-03-10T10:00:30+00:00")
    store.create(CRONJOB, batch.cronjob("ops", "sweep", "*/5 * * * *", "busybox"))
    clock.move_to("2025-03-10T10:04:00+00:00")
    assert controllers.sync(("cronjob", "ops", "sweep")) == pytest.approx(60.1)
    assert jobs(store) == []
    clock.move_to("2025-03-10T10:05:10+00:00")
    controllers.sync(("cronjob", "ops", "sweep"))
    assert jobs(store) == [f"sweep-{minutes('2025-03-10T10:05:00+00:00')}"]
    clock.move_to("2025-03-10T10:31:00+00:00")  # 10:10 to 10:30 were missed
    controllers.sync(("cronjob", "ops", "sweep"))
    assert jobs(store)[-1] == f"sweep-{minutes('2025-03-10T10:30:00+00:00')}"
    assert len(jobs(store)) == 2
    status = store.get(CRONJOB, "ops", "sweep")["status"]
    assert status["lastScheduleTime"] == "2025-03-10T10:30:00Z"
    assert [ref["name"] for ref in status["active"]] == jobs(store)


def test_a_time_missed_by_more_than_the_starting_deadline_is_skipped() -> None:
    store, clock, controllers = cluster("2025-03-10T10:00:30+00:00")
    body = batch.cronjob("ops", "late", "*/5 * * * *", "busybox")
    body["spec"]["startingDeadlineSeconds"] = 60
    store.create(CRONJOB, body)
    clock.move_to("2025-03-10T10:07:00+00:00")  # 10:05 is two minutes gone
    controllers.sync(("cronjob", "ops", "late"))
    assert jobs(store) == []
    clock.move_to("2025-03-10T10:10:30+00:00")
    controllers.sync(("cronjob", "ops", "late"))
    assert jobs(store) == [f"late-{minutes('2025-03-10T10:10:00+00:00')}"]


def test_a_cronjob_schedule_reads_in_its_time_zone() -> None:
    store, clock, controllers = cluster("2025-01-15T06:00:00+00:00", minor=32)
    store.create(CRONJOB, batch.cronjob("ops", "morning", "0 9 * * *", "busybox",
                                        time_zone="Europe/Amsterdam"))
    clock.move_to("2025-01-15T08:00:30+00:00")  # 09:00:30 in Amsterdam (CET)
    controllers.sync(("cronjob", "ops", "morning"))
    [made] = store.list(JOB, "ops")
    assert made["metadata"]["name"] == f"morning-{minutes('2025-01-15T08:00:00+00:00')}"
    # 1.32 notes the scheduled time, in the CronJob's zone.
    assert made["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] \
        == "2025-01-15T09:00:00+01:00"


def finished_job(minor: int) -> Obj:
    store, _, controllers = cluster("2025-03-10T10:00:00+00:00", minor=minor)
    with Settler(controllers):
        store.create(JOB, batch.job("ops", "once", "busybox", run_seconds=0))
    return store.get(JOB, "ops", "once")


def test_a_finished_job_has_complete_alone_in_1_30() -> None:
    [complete] = finished_job(30)["status"]["conditions"]
    assert complete["type"] == "Complete" and "reason" not in complete


def test_a_finished_job_has_success_criteria_met_then_complete_from_1_31() -> None:
    status = finished_job(31)["status"]
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("SuccessCriteriaMet", "True", "CompletionsReached"),
        ("Complete", "True", "CompletionsReached")]
    assert status["conditions"][1]["message"] == "Reached expected number of succeeded pods"
    assert status["succeeded"] == 1 and status["completionTime"] == "2025-03-10T10:00:00Z"
