"""bot/azure/mesh.py reads the cluster's AKS planned-maintenance configurations through the real
SDK from the simulated ARM, as domain values the plan can ask "does this step overlap?"."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from bot.azure.errors import READ_MAINTENANCE
from bot.schedule.maintenance import (
    DateSpan,
    Kind,
    MaintenanceConfig,
    RelativeMonthly,
    TimeInWeek,
    Weekly,
    overlaps,
)
from bot.upgrade.errors import GiveUp, RetryLater
from tests.integration.aks_harness import RG, SUB, Arm, serve_arm

FRIDAY, MONDAY = 4, 0


@pytest.fixture
def arm(tmp_path: Path) -> Iterator[Arm]:
    with serve_arm(tmp_path) as running:
        running.cluster("aks1", revisions=["asm-1-22"])
        yield running


def auto_upgrade_last_friday() -> dict[str, object]:
    return {"maintenanceWindow": {
        "schedule": {"relativeMonthly": {"intervalMonths": 1, "weekIndex": "Last",
                                         "dayOfWeek": "Friday"}},
        "durationHours": 6, "utcOffset": "+05:30", "startDate": "2026-01-01",
        "startTime": "23:00", "notAllowedDates": [{"start": "2026-12-20", "end": "2027-01-02"}]}}


def by_name(configs: tuple[MaintenanceConfig, ...]) -> dict[str, MaintenanceConfig]:
    return {c.name: c for c in configs}


def test_the_three_kinds_of_configuration_arrive_as_domain_values(arm: Arm) -> None:
    arm.sim.set_maintenance(SUB, RG, "aks1", Kind.AUTO_UPGRADE.value, auto_upgrade_last_friday())
    arm.sim.set_maintenance(SUB, RG, "aks1", "default",
                            {"timeInWeek": [{"day": "Monday", "hourSlots": [1, 2]}]})

    configs = by_name(arm.mesh().maintenance())

    auto = configs[Kind.AUTO_UPGRADE.value]
    assert auto.kind is Kind.AUTO_UPGRADE and auto.window is not None
    assert auto.window.schedule == RelativeMonthly(1, "Last", FRIDAY)
    assert (auto.window.duration_hours, auto.window.start_time) == (6, time(23))
    assert auto.window.utc_offset == timedelta(hours=5, minutes=30)
    assert auto.window.start_date == date(2026, 1, 1)
    assert auto.window.not_allowed_dates == (DateSpan(date(2026, 12, 20), date(2027, 1, 2)),)
    assert configs["default"].time_in_week == (TimeInWeek(MONDAY, (1, 2)),)


def test_a_step_on_the_last_friday_evening_overlaps_the_auto_upgrade_window(arm: Arm) -> None:
    arm.sim.set_maintenance(SUB, RG, "aks1", Kind.AUTO_UPGRADE.value, auto_upgrade_last_friday())
    arm.sim.set_maintenance(SUB, RG, "aks1", "default", {"maintenanceWindow": {
        "schedule": {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Sunday"}},
        "durationHours": 4, "startTime": "02:00"}})

    # 30 Jan 2026 is the last Friday: 23:00 at +05:30 is 17:30 UTC, for 6 h.
    step = (datetime(2026, 1, 30, 18, tzinfo=UTC), datetime(2026, 1, 30, 19, tzinfo=UTC))
    found = overlaps(arm.mesh().maintenance(), *step)

    assert [(o.config, o.start, o.end) for o in found] == [(
        Kind.AUTO_UPGRADE.value, datetime(2026, 1, 30, 17, 30, tzinfo=UTC),
        datetime(2026, 1, 30, 23, 30, tzinfo=UTC))]
    assert "Kubernetes version" in found[0].what


def test_a_default_window_from_the_current_api_is_read_as_a_window(arm: Arm) -> None:
    arm.sim.set_maintenance(SUB, RG, "aks1", "default", {"maintenanceWindow": {
        "schedule": {"weekly": {"intervalWeeks": 1, "dayOfWeek": "Monday"}},
        "durationHours": 4, "startTime": "01:00"}})

    (default,) = arm.mesh().maintenance()

    assert default.kind is Kind.DEFAULT and default.window is not None
    assert default.window.schedule == Weekly(1, MONDAY)
    assert default.window.start_date is not None  # ARM fills in the day of creation


def test_a_cluster_without_configurations_has_none(arm: Arm) -> None:
    assert arm.mesh().maintenance() == ()


def test_forbidden_maintenance_read_gives_up_naming_its_permission(arm: Arm) -> None:
    arm.sim.faults.add(verb="GET", path="*/maintenanceConfigurations", status=403)

    with pytest.raises(GiveUp) as caught:
        arm.mesh().maintenance()

    assert READ_MAINTENANCE in caught.value.hint


def test_throttled_maintenance_read_retries_later(arm: Arm) -> None:
    arm.sim.faults.add(verb="GET", path="*/maintenanceConfigurations", status=429,
                       retry_after=40)

    with pytest.raises(RetryLater) as caught:
        arm.mesh().maintenance()

    assert caught.value.delay_seconds == 40
