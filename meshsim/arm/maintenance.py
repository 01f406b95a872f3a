"""A cluster's planned-maintenance configurations, as ARM serves and checks them.

`…/managedClusters/{name}/maintenanceConfigurations[/{configName}]` (azure-mgmt-containerservice
41.8 `maintenance_configurations`: GET list and one, PUT 200|201, DELETE 200|204). AKS knows
three names (planned-maintenance.md): `default`, `aksManagedAutoUpgradeSchedule`,
`aksManagedNodeOSUpgradeSchedule`. A window lasts 4 to 24 hours and its schedule has exactly one
kind (MaintenanceWindow, Schedule docs); a missing startDate becomes the day of creation ("The
current date at creation time"). The exact error codes of the real RP are not documented.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from meshsim.arm.bodies import PROVIDER, cluster_id
from meshsim.arm.rp import JSON, Cluster, RpError

NAMES = ("default", "aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule")
TYPE = f"{PROVIDER}/managedClusters/maintenanceConfigurations"
SCHEDULES = ("daily", "weekly", "absoluteMonthly", "relativeMonthly")
WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
WEEK_INDEXES = ("First", "Second", "Third", "Fourth", "Last")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_OFFSET = re.compile(r"^[+-](0\d|1[0-4]):[0-5]\d$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def invalid(message: str) -> RpError:
    return RpError(400, "InvalidParameter", message)


def canonical_name(name: str) -> str:
    """ARM names are case-insensitive; AKS accepts only its three configurations."""
    found = next((n for n in NAMES if n.lower() == name.lower()), None)
    if found is None:
        raise invalid(f"Maintenance configuration name '{name}' is not supported. "
                      f"Supported names: {', '.join(NAMES)}.")
    return found


def listing(c: Cluster) -> JSON:
    return {"value": [copy.deepcopy(c.maintenance[n]) for n in NAMES if n in c.maintenance]}


def get(c: Cluster, name: str) -> JSON:
    found = c.maintenance.get(canonical_name(name))
    if found is None:
        raise RpError(404, "NotFound", f"Maintenance configuration '{name}' was not found "
                                       f"in managed cluster '{c.name}'.")
    return copy.deepcopy(found)


def put(c: Cluster, name: str, body: Mapping[str, Any], now: float) -> tuple[JSON, bool]:
    """Check and store `body`'s properties; the stored resource, and whether it is new."""
    config = canonical_name(name)
    properties = checked(config, body.get("properties"), now)
    at = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    old = c.maintenance.get(config)
    created = (old or {}).get("systemData", {}).get("createdAt", at)
    c.maintenance[config] = {
        "id": f"{cluster_id(c)}/maintenanceConfigurations/{config}",
        "name": config,
        "type": TYPE,
        "properties": properties,
        "systemData": {"createdAt": created, "lastModifiedAt": at},
    }
    return copy.deepcopy(c.maintenance[config]), old is None


def delete(c: Cluster, name: str) -> bool:
    """Whether there was one to delete (ARM answers 200, else 204)."""
    return c.maintenance.pop(canonical_name(name), None) is not None


def checked(name: str, properties: Any, now: float) -> JSON:
    if not isinstance(properties, dict):
        raise invalid("The maintenance configuration must have properties.")
    result = copy.deepcopy(properties)
    window = result.get("maintenanceWindow")
    if window is None:
        if name != "default" or not result.get("timeInWeek"):
            raise invalid(f"Maintenance configuration '{name}' needs a maintenanceWindow.")
        _check_time_in_week(result["timeInWeek"])
        return result
    _check_window(name, window)
    if not window.get("startDate"):  # planned-maintenance.md: the date of creation
        window["startDate"] = datetime.fromtimestamp(now, UTC).date().isoformat()
    return result


def _check_window(name: str, window: Any) -> None:
    if not isinstance(window, dict):
        raise invalid("maintenanceWindow must be an object.")
    hours = window.get("durationHours")
    if not isinstance(hours, int) or not 4 <= hours <= 24:
        raise invalid(f"durationHours must be between 4 and 24, got {hours}.")
    if not _CLOCK.match(str(window.get("startTime") or "")):
        raise invalid("startTime must be in the form HH:mm, from 00:00 to 23:59.")
    if window.get("utcOffset") and not _OFFSET.match(str(window["utcOffset"])):
        raise invalid("utcOffset must be in the form +HH:mm or -HH:mm, for example +05:30.")
    if window.get("startDate") and not _DATE.match(str(window["startDate"])):
        raise invalid("startDate must be a date in the form yyyy-MM-dd.")
    for span in window.get("notAllowedDates") or []:
        if not (_DATE.match(str(span.get("start"))) and _DATE.match(str(span.get("end")))):
            raise invalid("notAllowedDates need start and end dates in the form yyyy-MM-dd.")
    _check_schedule(name, window.get("schedule"))


def _check_schedule(name: str, schedule: Any) -> None:
    kinds = [k for k in SCHEDULES if (schedule or {}).get(k) is not None]
    if len(kinds) != 1:
        raise invalid("One and only one of the schedule types should be specified: "
                      f"{', '.join(SCHEDULES)}.")
    kind = kinds[0]
    if name == "default" and kind != "weekly":  # planned-maintenance.md, "Schedule types"
        raise invalid(f"Schedule type '{kind}' is not supported for the default configuration.")
    rule: JSON = schedule[kind]
    interval = {"daily": "intervalDays", "weekly": "intervalWeeks"}.get(kind, "intervalMonths")
    if not isinstance(rule.get(interval), int) or rule[interval] < 1:
        raise invalid(f"{kind}.{interval} must be a positive integer.")
    if kind in ("weekly", "relativeMonthly") and rule.get("dayOfWeek") not in WEEKDAYS:
        raise invalid(f"{kind}.dayOfWeek must be one of {', '.join(WEEKDAYS)}.")
    if kind == "relativeMonthly" and rule.get("weekIndex") not in WEEK_INDEXES:
        raise invalid(f"relativeMonthly.weekIndex must be one of {', '.join(WEEK_INDEXES)}.")
    day = rule.get("dayOfMonth")
    if kind == "absoluteMonthly" and (not isinstance(day, int) or not 1 <= day <= 31):
        raise invalid("absoluteMonthly.dayOfMonth must be between 1 and 31.")


def _check_time_in_week(entries: Any) -> None:
    for entry in entries if isinstance(entries, list) else [None]:
        if not isinstance(entry, dict) or entry.get("day") not in WEEKDAYS:
            raise invalid(f"timeInWeek.day must be one of {', '.join(WEEKDAYS)}.")
        slots = entry.get("hourSlots") or []
        if not all(isinstance(h, int) and 0 <= h <= 23 for h in slots):
            raise invalid("timeInWeek.hourSlots must be hours from 0 to 23.")
