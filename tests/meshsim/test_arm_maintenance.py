"""The simulated ARM's planned-maintenance configurations through the real SDK client:
list and get as azure-mgmt-containerservice reads them, PUT/DELETE, and ARM's refusals."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from tests.meshsim.arm_env import NAME, RG, SUB, arm_env, arm_error, cluster_path, raw

AUTO = "aksManagedAutoUpgradeSchedule"
TYPE = "Microsoft.ContainerService/managedClusters/maintenanceConfigurations"


def window(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schedule": {"relativeMonthly": {"intervalMonths": 1, "weekIndex": "Last",
                                         "dayOfWeek": "Friday"}},
        "durationHours": 8, "utcOffset": "+05:30", "startDate": "2026-01-01",
        "startTime": "22:00", "notAllowedDates": [{"start": "2026-12-23", "end": "2027-01-03"}]}
    return {**body, **changes}


def test_the_sdk_lists_and_reads_configurations_as_arm_returns_them(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        env.arm.set_maintenance(SUB, RG, NAME, AUTO, {"maintenanceWindow": window()})
        env.arm.set_maintenance(SUB, RG, NAME, "default", {"timeInWeek": [
            {"day": "Monday", "hourSlots": [1, 2]}]})
        ops = env.client().maintenance_configurations
        listed = list(ops.list_by_managed_cluster(RG, NAME))
        one = ops.get(RG, NAME, AUTO)
    assert [c.name for c in listed] == ["default", AUTO]
    assert one.type == TYPE
    assert str(one.id).endswith(f"/managedClusters/{NAME}/maintenanceConfigurations/{AUTO}")
    mw = one.maintenance_window
    assert mw is not None and mw.schedule.relative_monthly is not None
    assert (mw.duration_hours, mw.utc_offset, mw.start_time) == (8, "+05:30", "22:00")
    assert mw.start_date == datetime.date(2026, 1, 1)
    assert mw.schedule.relative_monthly.week_index == "Last"
    assert mw.not_allowed_dates is not None
    assert mw.not_allowed_dates[0].end == datetime.date(2027, 1, 3)
    legacy = listed[0].time_in_week
    assert legacy is not None and legacy[0].hour_slots == [1, 2]


def test_a_cluster_without_configurations_lists_none(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        listed = list(env.client().maintenance_configurations.list_by_managed_cluster(RG, NAME))
    assert listed == []


def test_a_missing_configuration_is_a_404_not_found(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env, pytest.raises(ResourceNotFoundError) as caught:
        env.client().maintenance_configurations.get(RG, NAME, "default")
    status, code, _ = arm_error(caught.value)
    assert (status, code) == (404, "NotFound")


def test_put_creates_with_201_fills_start_date_and_delete_removes(tmp_path: Path) -> None:
    path = cluster_path() + f"/maintenanceConfigurations/{AUTO}?api-version=2026-08-01"
    no_start = {k: v for k, v in window().items() if k != "startDate"}
    with arm_env(tmp_path) as env:
        created = raw(env, "PUT", path, {"properties": {"maintenanceWindow": no_start}})
        again = raw(env, "PUT", path, {"properties": {"maintenanceWindow": window()}})
        deleted = raw(env, "DELETE", path)
        gone = raw(env, "DELETE", path)
        listed = list(env.client().maintenance_configurations.list_by_managed_cluster(RG, NAME))
    assert created[0] == 201 and created[1]["name"] == AUTO
    assert created[1]["properties"]["maintenanceWindow"]["startDate"]  # ARM: day of creation
    assert again[0] == 200
    assert (deleted[0], gone[0], listed) == (200, 204, [])


def test_the_sdk_can_put_a_configuration(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        ops = env.client().maintenance_configurations
        ops.create_or_update(RG, NAME, "aksManagedNodeOSUpgradeSchedule", {"properties": {
            "maintenanceWindow": window(schedule={"daily": {"intervalDays": 2}})}})
        stored = ops.get(RG, NAME, "AKSMANAGEDNODEOSUPGRADESCHEDULE")  # names ignore case
    assert stored.name == "aksManagedNodeOSUpgradeSchedule"
    assert stored.maintenance_window is not None
    assert stored.maintenance_window.schedule.daily is not None


@pytest.mark.parametrize(("name", "mw", "said"), [
    ("nightly", window(), "not supported"),
    (AUTO, window(durationHours=3), "durationHours"),
    (AUTO, window(schedule={"weekly": {"intervalWeeks": 1, "dayOfWeek": "Friday"},
                            "daily": {"intervalDays": 1}}), "One and only one"),
    (AUTO, window(schedule={}), "One and only one"),
    (AUTO, window(startTime="24:00"), "startTime"),
    ("default", window(), "not supported for the default"),
])
def test_arm_refuses_bad_configurations_with_400(tmp_path: Path, name: str,
                                                 mw: dict[str, Any], said: str) -> None:
    with arm_env(tmp_path) as env, pytest.raises(HttpResponseError) as caught:
        env.client().maintenance_configurations.create_or_update(
            RG, NAME, name, {"properties": {"maintenanceWindow": mw}})
    status, code, message = arm_error(caught.value)
    assert (status, code) == (400, "InvalidParameter")
    assert said in message
