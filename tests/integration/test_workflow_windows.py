"""Change windows and AKS planned maintenance in the workflow, against meshsim: the plan warns
of maintenance within the run's likely time (after the next window opens), and a check too;
a maintenance configuration the bot may not read is a note, never a stop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.schedule.windows import DAYS
from bot.slack.views import card_notes
from meshsim.sim import RESOURCE_GROUP, SUBSCRIPTION
from tests.integration.conftest_workflow import CLUSTER, workflow_env


def _weekly(at: datetime, hours: int = 4) -> dict[str, object]:
    """An aksManaged* style window starting at `at` (UTC) each week."""
    return {"maintenanceWindow": {
        "schedule": {"weekly": {"intervalWeeks": 1, "dayOfWeek": DAYS_FULL[at.weekday()]}},
        "durationHours": hours, "utcOffset": "+00:00", "startTime": at.strftime("%H:%M")}}


DAYS_FULL = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def test_the_plan_warns_of_aks_maintenance_within_the_run_and_says_what_aks_may_do(
        tmp_path: Path) -> None:
    soon = (datetime.now(UTC) + timedelta(minutes=40)).replace(second=0, microsecond=0)
    with workflow_env(tmp_path, soak_time="30m") as env:
        env.sim.arm.set_maintenance(SUBSCRIPTION, RESOURCE_GROUP, CLUSTER, "default",
                                    _weekly(soon))
        plan = env.workflow.plan(CLUSTER)
        [note] = [n for n in plan.notes if "planned maintenance" in n]
        assert "(default)" in note and f"{soon:%H:%M}" in note
        assert "Istio" in note  # the add-on's patches follow the default window


def test_maintenance_after_the_run_is_not_mentioned_but_a_window_moves_the_run(
        tmp_path: Path) -> None:
    now = datetime.now(UTC)
    later = (now + timedelta(hours=10)).replace(minute=0, second=0, microsecond=0)
    window = {"timezone": "UTC", "weekly": [{"days": [DAYS[later.weekday()]],
                                             "start": later.strftime("%H:%M"),
                                             "duration": "1h"}]}
    with workflow_env(tmp_path, soak_time="30m") as env:
        env.sim.arm.set_maintenance(SUBSCRIPTION, RESOURCE_GROUP, CLUSTER,
                                    "aksManagedNodeOSUpgradeSchedule",
                                    _weekly(later + timedelta(hours=1)))
        assert not [n for n in env.workflow.plan(CLUSTER).notes if "maintenance" in n]
    with workflow_env(tmp_path / "windowed", soak_time="30m", change_windows=window) as env:
        env.sim.arm.set_maintenance(SUBSCRIPTION, RESOURCE_GROUP, CLUSTER,
                                    "aksManagedNodeOSUpgradeSchedule",
                                    _weekly(later + timedelta(hours=1)))
        [note] = [n for n in env.workflow.plan(CLUSTER).notes if "maintenance" in n]
        assert "aksManagedNodeOSUpgradeSchedule" in note and "node" in note.lower()


def test_maintenance_the_bot_may_not_read_is_a_note_and_the_plan_goes_on(
        tmp_path: Path) -> None:
    with workflow_env(tmp_path) as env:
        env.sim.arm.faults.add(verb="GET", path="*/maintenanceConfigurations*", status=403,
                               count=None)
        plan = env.workflow.plan(CLUSTER)
        [note] = [n for n in plan.notes if "maintenance" in n]
        assert note.startswith("Could not read the cluster's AKS planned-maintenance windows")
        assert plan.target == "asm-1-23"


def test_a_check_during_a_run_names_maintenance_within_it_for_the_card(tmp_path: Path) -> None:
    soon = (datetime.now(UTC) + timedelta(minutes=20)).replace(second=0, microsecond=0)
    with workflow_env(tmp_path, soak_time="30m") as env:
        env.sim.arm.set_maintenance(SUBSCRIPTION, RESOURCE_GROUP, CLUSTER,
                                    "aksManagedAutoUpgradeSchedule", _weekly(soon))
        run = env.start()
        report = env.workflow.check(run.id)
        [note] = report.maintenance
        assert "(aksManagedAutoUpgradeSchedule)" in note and f"{soon:%H:%M}" in note
        assert note in card_notes(report, run)
