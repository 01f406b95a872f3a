"""Read a cluster's AKS planned-maintenance configurations and hand them on as domain values.

`az aks maintenanceconfiguration list` through the SDK (`maintenance_configurations.
list_by_managed_cluster`), translated to bot/schedule/maintenance.py's types. Errors leave as
RetryLater or GiveUp (bot/azure/errors.py); a 403 names the read permission to grant. A
configuration the bot cannot read is logged and left out rather than failing the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import time
from typing import Any

from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.containerservice.models import MaintenanceConfiguration
from azure.mgmt.containerservice.models import MaintenanceWindow as SdkWindow
from azure.mgmt.containerservice.models import Schedule as SdkSchedule

from bot.azure.errors import READ_MAINTENANCE, arm_errors
from bot.schedule.maintenance import (
    AbsoluteMonthly,
    Daily,
    DateSpan,
    MaintenanceConfig,
    MaintenanceWindow,
    RelativeMonthly,
    Schedule,
    TimeInWeek,
    Weekly,
    parse_utc_offset,
    weekday_number,
)
from bot.upgrade.errors import Cause

log = logging.getLogger(__name__)

# The Azure RBAC action the list needs ("Azure permissions for Containers").


def read_maintenance(client: ContainerServiceClient, resource_group: str, name: str,
                     on_error: Callable[[Cause], None] | None = None
                     ) -> tuple[MaintenanceConfig, ...]:
    """Every configuration the cluster has; () when it has none."""
    label = f"{resource_group}/{name}"
    with arm_errors(label, "read the planned-maintenance configurations", READ_MAINTENANCE,
                    on_error):
        found = list(client.maintenance_configurations.list_by_managed_cluster(
            resource_group, name))
    configs = []
    for config in found:
        try:
            configs.append(config_of(config))
        except (ValueError, TypeError, AttributeError, IndexError) as exc:
            log.warning("maintenance configuration %s of %s left out: %s",
                        config.name, label, exc)
    return tuple(configs)


def config_of(config: MaintenanceConfiguration) -> MaintenanceConfig:
    properties = config.properties
    if properties is None:
        return MaintenanceConfig(str(config.name or ""))
    window = properties.maintenance_window
    return MaintenanceConfig(
        str(config.name or ""),
        _window_of(window) if window is not None else None,
        tuple(TimeInWeek(weekday_number(_text(t.day)), tuple(t.hour_slots or ()))
              for t in properties.time_in_week or [] if t.day is not None),
        tuple((s.start, s.end) for s in properties.not_allowed_time or []
              if s.start is not None and s.end is not None),
    )


def _window_of(window: SdkWindow) -> MaintenanceWindow:
    hours, _, minutes = str(window.start_time).partition(":")
    return MaintenanceWindow(
        _schedule_of(window.schedule),
        int(window.duration_hours),
        time(int(hours), int(minutes or 0)),
        parse_utc_offset(window.utc_offset),
        window.start_date,
        tuple(DateSpan(d.start, d.end) for d in window.not_allowed_dates or []),
    )


def _schedule_of(schedule: SdkSchedule) -> Schedule:
    """Exactly one kind is set (ARM refuses anything else)."""
    if schedule.daily is not None:
        return Daily(int(schedule.daily.interval_days))
    if schedule.weekly is not None:
        return Weekly(int(schedule.weekly.interval_weeks),
                      weekday_number(_text(schedule.weekly.day_of_week)))
    if schedule.absolute_monthly is not None:
        monthly = schedule.absolute_monthly
        return AbsoluteMonthly(int(monthly.interval_months), int(monthly.day_of_month))
    if schedule.relative_monthly is not None:
        relative = schedule.relative_monthly
        return RelativeMonthly(int(relative.interval_months), _text(relative.week_index),
                               weekday_number(_text(relative.day_of_week)))
    raise ValueError("the schedule has no kind")


def _text(value: Any) -> str:
    """Hybrid models hand back raw JSON strings, or str enums when set from Python."""
    return str(getattr(value, "value", value))
