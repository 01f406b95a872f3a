"""Change windows: weekly windows in a time zone, minus freezes; when the next one opens."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from bot.schedule.windows import ChangeWindows, Freeze, WeeklyWindow

BERLIN = "Europe/Berlin"
WORKDAYS = WeeklyWindow((0, 1, 2, 3), time(9), timedelta(hours=6))  # Mon-Thu 09:00-15:00


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_inside_a_weekly_window_it_is_open_and_says_when_it_closes() -> None:
    w = ChangeWindows(BERLIN, (WORKDAYS,))
    monday_10 = utc(2026, 12, 7, 9)  # 10:00 in Berlin (UTC+1 in winter)
    assert w.is_open(monday_10)
    assert w.closes_at(monday_10) == utc(2026, 12, 7, 14)


def test_outside_it_waits_for_the_next_window_in_the_cluster_s_zone() -> None:
    w = ChangeWindows(BERLIN, (WORKDAYS,))
    friday = utc(2026, 12, 4, 12)
    assert not w.is_open(friday)
    assert w.next_open(friday) == utc(2026, 12, 7, 8)  # Monday 09:00 Berlin


def test_a_window_may_run_past_midnight() -> None:
    late = ChangeWindows("UTC", (WeeklyWindow((4,), time(22), timedelta(hours=6)),))
    assert late.is_open(utc(2026, 12, 5, 3))  # Saturday 03:00, from Friday 22:00
    assert not late.is_open(utc(2026, 12, 5, 4))


def test_a_freeze_closes_whole_local_days_and_the_next_window_is_after_it() -> None:
    holidays = Freeze(date(2026, 12, 21), date(2027, 1, 3), "holidays")
    w = ChangeWindows(BERLIN, (WORKDAYS,), (holidays,))
    assert not w.is_open(utc(2026, 12, 22, 10))
    assert w.freeze_at(utc(2026, 12, 22, 10)) == holidays
    assert w.next_open(utc(2026, 12, 22, 10)) == utc(2027, 1, 4, 8)


def test_a_freeze_cuts_a_window_that_runs_into_it() -> None:
    late = WeeklyWindow((6,), time(20), timedelta(hours=8))  # Sunday 20:00 to Monday 04:00
    w = ChangeWindows("UTC", (late,), (Freeze(date(2026, 12, 7), date(2026, 12, 7), "audit"),))
    assert w.is_open(utc(2026, 12, 6, 23))
    assert w.closes_at(utc(2026, 12, 6, 23)) == utc(2026, 12, 7)
    assert not w.is_open(utc(2026, 12, 7, 1))


def test_no_weekly_windows_is_any_time_but_a_freeze() -> None:
    w = ChangeWindows("UTC", (), (Freeze(date(2026, 12, 24), date(2026, 12, 26), "xmas"),))
    assert w.is_open(utc(2026, 12, 4, 3))
    assert w.next_open(utc(2026, 12, 25, 12)) == utc(2026, 12, 27)


def test_summer_time_moves_the_window_in_utc() -> None:
    w = ChangeWindows(BERLIN, (WORKDAYS,))
    assert w.next_open(utc(2027, 6, 4, 12)) == utc(2027, 6, 7, 7)  # UTC+2 in summer
