"""Standard 5-field cron schedules as the CronJob controller reads them (robfig/cron v3
`ParseStandard`): minute hour day-of-month month day-of-week, with `*`, `?`, ranges, steps,
lists, month and weekday names, and the @yearly/@monthly/@weekly/@daily/@hourly descriptors.

As in robfig/cron, when both day fields are restricted a day matching either one fits; when
either is `*` (or `?`) both must match.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = {name: i for i, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
DAYS = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
               "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
               "@hourly": "0 * * * *"}
NO_NAMES: dict[str, int] = {}
BOUNDS = ((0, 59, NO_NAMES), (0, 23, NO_NAMES), (1, 31, NO_NAMES), (1, 12, MONTHS), (0, 6, DAYS))
SEARCH_YEARS = 5  # robfig gives up after five years without a match (e.g. "0 0 30 2 *")


class CronError(ValueError):
    """The schedule does not parse; the message is robfig's wording."""


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool  # day-of-month or day-of-week was `*`: both must match

    def day_matches(self, moment: datetime) -> bool:
        dom = moment.day in self.days
        dow = (moment.isoweekday() % 7) in self.weekdays
        return (dom and dow) if self.any_day else (dom or dow)

    def next_after(self, moment: datetime) -> datetime | None:
        """The first matching minute strictly after `moment` (an aware datetime), in its zone."""
        t = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t.year + SEARCH_YEARS
        while t.year <= limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self.day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        return None


def parse(text: str) -> Schedule:
    spec = text.strip()
    if spec.startswith(("TZ=", "CRON_TZ=")):
        raise CronError("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
    spec = DESCRIPTORS.get(spec, spec)
    if spec.startswith("@"):
        raise CronError(f"unrecognized descriptor: {spec}")
    fields = spec.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    sets = [frozenset(_field(f, lo, hi, names))
            for f, (lo, hi, names) in zip(fields, BOUNDS, strict=True)]
    return Schedule(sets[0], sets[1], sets[2], sets[3], sets[4],
                    any_day=_is_star(fields[2]) or _is_star(fields[4]))


def zone(name: str | None) -> tzinfo:
    """The CronJob's `timeZone` (IANA name); kube-controller-manager on AKS runs in UTC."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(f"unknown time zone {name}") from exc


def _is_star(field: str) -> bool:
    return field in ("*", "?")


def _field(text: str, lo: int, hi: int, names: dict[str, int]) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        out |= _range(part, lo, hi, names)
    return out


def _range(part: str, lo: int, hi: int, names: dict[str, int]) -> set[int]:
    span, _, step_text = part.partition("/")
    step = _int(step_text) if step_text else 1
    if step_text and step <= 0:
        raise CronError(f"step of range should be a positive number: {part}")
    if _is_star(span):
        start, end = lo, hi
    else:
        first, dash, last = span.partition("-")
        start = _value(first, names)
        end = _value(last, names) if dash else (hi if step_text else start)
    if start < lo:
        raise CronError(f"beginning of range ({start}) below minimum ({lo}): {part}")
    if end > hi:
        raise CronError(f"end of range ({end}) above maximum ({hi}): {part}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {part}")
    return set(range(start, end + 1, step))


def _value(text: str, names: dict[str, int]) -> int:
    return names[text.lower()] if text.lower() in names else _int(text)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise CronError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": '
                        "invalid syntax") from None
