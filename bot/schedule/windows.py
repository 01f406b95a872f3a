"""Change windows: when a cluster may be disturbed. Weekly windows in the cluster's time zone,
minus freeze periods (whole local days, with a reason). Pure: the standard library only.

A window given as Friday 22:00 for 6 h runs into Saturday; a freeze ends at the end of its last
day. Times are compared as aware datetimes; the local ones come from zoneinfo, so a window at
02:30 on the night clocks go forward starts at 03:30 (fold 0), as wall clocks show.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HORIZON_DAYS = 400  # how far ahead the next window is looked for


@dataclass(frozen=True)
class WeeklyWindow:
    days: tuple[int, ...]  # 0 is Monday
    start: time
    duration: timedelta

    def text(self) -> str:
        days = ", ".join(DAYS[d].capitalize() for d in self.days)
        return f"{days} {self.start:%H:%M} for {_hours(self.duration)}"


@dataclass(frozen=True)
class Freeze:
    first: date
    last: date  # inclusive
    reason: str

    def text(self) -> str:
        return f"{self.first:%d %b %Y} to {self.last:%d %b %Y} ({self.reason})"


@dataclass(frozen=True)
class ChangeWindows:
    """No weekly windows means any time, except during a freeze."""

    timezone: str
    weekly: tuple[WeeklyWindow, ...] = ()
    freezes: tuple[Freeze, ...] = ()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def freeze_at(self, at: datetime) -> Freeze | None:
        local = at.astimezone(self.zone).date()
        return next((f for f in self.freezes if f.first <= local <= f.last), None)

    def is_open(self, at: datetime) -> bool:
        return self.next_open(at) == at

    def next_open(self, at: datetime) -> datetime | None:
        """`at` when a change may be made then, else when the next window opens (None when
        none does within HORIZON_DAYS)."""
        for start, end in self._open_spans(at):
            if end > at:
                return max(start, at)
        return None

    def closes_at(self, at: datetime) -> datetime | None:
        """When the window open at `at` closes (None: it is not open, or never closes)."""
        for start, end in self._open_spans(at):
            if start <= at < end:
                return None if end == _NEVER else end
        return None

    def describe(self) -> str:
        weekly = "; ".join(w.text() for w in self.weekly) or "any time"
        frozen = f"; frozen {'; '.join(f.text() for f in self.freezes)}" if self.freezes else ""
        return f"{weekly} ({self.timezone}){frozen}"

    def _open_spans(self, at: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The open spans in time order, from the one around `at` on: windows minus freezes."""
        for start, end in self._windows(at):
            yield from self._minus_freezes(start, end)

    def _windows(self, at: datetime) -> Iterator[tuple[datetime, datetime]]:
        if not self.weekly:
            yield at - timedelta(days=1), _NEVER
            return
        zone, first = self.zone, at.astimezone(self.zone).date() - timedelta(days=7)
        spans: list[tuple[datetime, datetime]] = []
        for offset in range(HORIZON_DAYS + 8):
            day = first + timedelta(days=offset)
            for w in self.weekly:
                if day.weekday() in w.days:
                    start = datetime.combine(day, w.start, zone).astimezone(UTC)
                    spans.append((start, start + w.duration))
        spans.sort()
        yield from _merged(spans)

    def _minus_freezes(self, start: datetime, end: datetime
                       ) -> Iterator[tuple[datetime, datetime]]:
        frozen = sorted((datetime.combine(f.first, time(), self.zone).astimezone(UTC),
                         datetime.combine(f.last + timedelta(days=1), time(), self.zone)
                         .astimezone(UTC)) for f in self.freezes)
        for f_start, f_end in frozen:
            if f_end <= start or f_start >= end:
                continue
            if f_start > start:
                yield start, f_start
            start = max(start, f_end)
            if start >= end:
                return
        yield start, end


_NEVER = datetime.max.replace(tzinfo=UTC)


def _merged(spans: list[tuple[datetime, datetime]]) -> Iterator[tuple[datetime, datetime]]:
    """Overlapping or touching windows as one span."""
    current: tuple[datetime, datetime] | None = None
    for start, end in spans:
        if current is not None and start <= current[1]:
            current = (current[0], max(current[1], end))
            continue
        if current is not None:
            yield current
        current = (start, end)
    if current is not None:
        yield current


def _hours(d: timedelta) -> str:
    hours = d.total_seconds() / 3600
    return f"{hours:g} h"
