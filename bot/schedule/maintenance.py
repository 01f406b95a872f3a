"""AKS planned maintenance: when AKS itself may change the cluster, and what it may do then.

A cluster has up to three `maintenanceConfigurations` (learn.microsoft.com/azure/aks/
planned-maintenance): `default` (AKS weekly releases: control plane and system add-ons, the
Istio add-on's patch releases among them, istio-upgrade.md "Patch version upgrade"),
`aksManagedAutoUpgradeSchedule` and `aksManagedNodeOSUpgradeSchedule`. `occurrences` turns one
into the UTC windows that overlap a time range; `overlaps` names them for a plan or a card.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEK_INDEXES = ("First", "Second", "Third", "Fourth", "Last")
# Intervals count from startDate; ARM fills it in at creation (planned-maintenance.md: "The
# current date at creation time"), so this anchor serves only configurations without one.
_NO_START_DATE = date(1970, 1, 1)


class Kind(StrEnum):
    DEFAULT = "default"
    AUTO_UPGRADE = "aksManagedAutoUpgradeSchedule"
    NODE_OS = "aksManagedNodeOSUpgradeSchedule"


# One sentence per configuration (planned-maintenance.md; istio-upgrade.md for the add-on).
_WHAT_AKS_MAY_DO = {
    Kind.DEFAULT: "AKS may roll out its weekly release to the control plane and system add-ons, "
                  "including a new patch of the Istio add-on, which restarts istiod and the "
                  "ingress gateways (sidecars keep the old patch until their pods restart).",
    Kind.AUTO_UPGRADE: "AKS may upgrade the cluster's Kubernetes version through its auto-upgrade "
                       "channel, draining and replacing nodes, so istiod, the gateways and "
                       "workloads are rescheduled.",
    Kind.NODE_OS: "AKS may patch or reimage the nodes' OS through the node OS upgrade channel, "
                  "draining and restarting nodes, so istiod, the gateways and workloads are "
                  "rescheduled.",
}


@dataclass(frozen=True)
class Daily:
    interval_days: int


@dataclass(frozen=True)
class Weekly:
    interval_weeks: int
    day_of_week: int  # 0 is Monday


@dataclass(frozen=True)
class AbsoluteMonthly:
    interval_months: int
    day_of_month: int  # a month without this day has no window


@dataclass(frozen=True)
class RelativeMonthly:
    interval_months: int
    week_index: str  # First, Second, Third, Fourth or Last
    day_of_week: int  # 0 is Monday


Schedule = Daily | Weekly | AbsoluteMonthly | RelativeMonthly


@dataclass(frozen=True)
class DateSpan:
    """Whole local days, both ends included (notAllowedDates; utcOffset applies)."""

    start: date
    end: date


@dataclass(frozen=True)
class MaintenanceWindow:
    schedule: Schedule
    duration_hours: int  # 4 to 24
    start_time: time  # local to utc_offset
    utc_offset: timedelta = timedelta(0)
    start_date: date | None = None  # no window before it
    not_allowed_dates: tuple[DateSpan, ...] = ()


@dataclass(frozen=True)
class TimeInWeek:
    """The legacy `default` form: whole UTC hours of one weekday; [1, 2] is 01:00-03:00 UTC."""

    day: int  # 0 is Monday
    hour_slots: tuple[int, ...]


@dataclass(frozen=True)
class MaintenanceConfig:
    name: str
    window: MaintenanceWindow | None = None
    time_in_week: tuple[TimeInWeek, ...] = ()  # legacy `default` only
    not_allowed_time: tuple[tuple[datetime, datetime], ...] = ()  # legacy `default` only

    @property
    def kind(self) -> Kind | None:
        """None for a name AKS does not know (it accepts only the three)."""
        return next((k for k in Kind if k.value.lower() == self.name.lower()), None)


@dataclass(frozen=True)
class Overlap:
    config: str
    start: datetime  # UTC
    end: datetime
    what: str  # what AKS may do to the cluster then


Span = tuple[datetime, datetime]


def weekday_number(name: str) -> int:
    """'Monday' -> 0 (any case)."""
    lowered = [d.lower() for d in WEEKDAYS]
    return lowered.index(name.lower())


def parse_utc_offset(text: str | None) -> timedelta:
    """'+05:30' -> 5 h 30 min; absent means '+00:00' (MaintenanceWindow.utcOffset)."""
    if not text:
        return timedelta(0)
    sign = -1 if text.startswith("-") else 1
    hours, _, minutes = text.lstrip("+-").partition(":")
    return sign * timedelta(hours=int(hours), minutes=int(minutes or 0))


def what_aks_may_do(kind: Kind | str) -> str:
    known = next((k for k in Kind if k.value.lower() == str(kind).lower()), None)
    if known is None:
        return f"AKS may run the maintenance that '{kind}' schedules."
    return _WHAT_AKS_MAY_DO[known]


def occurrences(config: MaintenanceConfig, start: datetime, end: datetime) -> list[Span]:
    """Every maintenance window of `config` overlapping [start, end), whole, in UTC, less the
    times maintenance is not allowed; sorted."""
    window = config.window
    if window is not None:
        spans = _window_spans(window, start, end)
        blocked = [_local_days(s, window.utc_offset) for s in window.not_allowed_dates]
    else:
        spans = _slot_spans(config.time_in_week, start, end)
        blocked = list(config.not_allowed_time)
    allowed = _subtract(_merge(spans), blocked)
    return [(s, e) for s, e in allowed if s < end and e > start]


def overlaps(configs: Iterable[MaintenanceConfig], start: datetime, end: datetime
             ) -> list[Overlap]:
    """The windows of all `configs` that overlap [start, end), earliest first."""
    found = [Overlap(c.name, s, e, what_aks_may_do(c.kind or c.name))
             for c in configs for s, e in occurrences(c, start, end)]
    return sorted(found, key=lambda o: (o.start, o.config))


def _window_spans(w: MaintenanceWindow, start: datetime, end: datetime) -> list[Span]:
    length = timedelta(hours=w.duration_hours)
    first = (start.astimezone(UTC) + w.utc_offset - length).date() - timedelta(days=1)
    last = (end.astimezone(UTC) + w.utc_offset).date()
    anchor = w.start_date or _NO_START_DATE
    spans = []
    for day in _days(first, last):
        if day >= anchor and _falls_on(w.schedule, anchor, day):
            opens = datetime.combine(day, w.start_time, UTC) - w.utc_offset
            spans.append((opens, opens + length))
    return spans


def _falls_on(schedule: Schedule, anchor: date, day: date) -> bool:
    if isinstance(schedule, Daily):
        return (day - anchor).days % schedule.interval_days == 0
    if isinstance(schedule, Weekly):
        first = anchor + timedelta(days=(schedule.day_of_week - anchor.weekday()) % 7)
        weeks, rest = divmod((day - first).days, 7)
        return rest == 0 and weeks >= 0 and weeks % schedule.interval_weeks == 0
    months = (day.year - anchor.year) * 12 + day.month - anchor.month
    if months % schedule.interval_months:
        return False
    if isinstance(schedule, AbsoluteMonthly):
        return day.day == schedule.day_of_month
    return day == _relative_day(day.year, day.month, schedule)


def _relative_day(year: int, month: int, schedule: RelativeMonthly) -> date:
    """The First..Fourth or Last `day_of_week` of the month."""
    days = [date(year, month, n) for n in range(1, calendar.monthrange(year, month)[1] + 1)]
    matching = [d for d in days if d.weekday() == schedule.day_of_week]
    index = WEEK_INDEXES.index(schedule.week_index.capitalize())
    return matching[-1] if index == len(WEEK_INDEXES) - 1 else matching[index]


def _slot_spans(slots: Iterable[TimeInWeek], start: datetime, end: datetime) -> list[Span]:
    """Legacy hour slots are UTC hours; a slot list [1, 2] is one window 01:00-03:00."""
    first = start.astimezone(UTC).date() - timedelta(days=1)
    last = end.astimezone(UTC).date()
    return [(opens, opens + timedelta(hours=1))
            for day in _days(first, last) for slot in slots if slot.day == day.weekday()
            for opens in (datetime.combine(day, time(h), UTC) for h in slot.hour_slots)]


def _local_days(span: DateSpan, offset: timedelta) -> Span:
    """Local whole days to UTC: +02:00 and 2022-12-23..2023-01-03 block 2022-12-22 22:00 to
    2023-01-03 22:00 UTC (MaintenanceWindow.notAllowedDates)."""
    opens = datetime.combine(span.start, time(0), UTC) - offset
    return opens, datetime.combine(span.end + timedelta(days=1), time(0), UTC) - offset


def _merge(spans: Iterable[Span]) -> list[Span]:
    merged: list[Span] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def _subtract(spans: list[Span], blocked: list[Span]) -> list[Span]:
    for b_start, b_end in blocked:
        spans = [piece for s, e in spans
                 for piece in ((s, min(e, b_start)), (max(s, b_end), e)) if piece[0] < piece[1]]
    return spans


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)
