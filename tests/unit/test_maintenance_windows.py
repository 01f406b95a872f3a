"""AKS planned-maintenance windows on real calendars: offsets, midnight, intervals, exceptions."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from bot.schedule.maintenance import (
    AbsoluteMonthly,
    Daily,
    DateSpan,
    Kind,
    MaintenanceConfig,
    MaintenanceWindow,
    RelativeMonthly,
    TimeInWeek,
    Weekly,
    occurrences,
    overlaps,
    parse_utc_offset,
    weekday_number,
    what_aks_may_do,
)

MON, TUE, WED, FRI, SUN = 0, 1, 2, 4, 6
IST = parse_utc_offset("+05:30")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def auto_upgrade(window: MaintenanceWindow) -> MaintenanceConfig:
    return MaintenanceConfig(Kind.AUTO_UPGRADE.value, window)


def test_a_weekly_window_in_plus_0530_opens_the_evening_before_in_utc() -> None:
    monday_0200_ist = MaintenanceWindow(Weekly(1, MON), 4, time(2), IST)
    found = occurrences(auto_upgrade(monday_0200_ist), utc(2026, 1, 5), utc(2026, 1, 12))
    assert found == [(utc(2026, 1, 4, 20, 30), utc(2026, 1, 5, 0, 30)),
                     (utc(2026, 1, 11, 20, 30), utc(2026, 1, 12, 0, 30))]


def test_a_friday_night_window_crossing_midnight_is_found_from_saturday_morning() -> None:
    friday_22 = MaintenanceWindow(Weekly(1, FRI), 6, time(22))
    found = occurrences(auto_upgrade(friday_22), utc(2026, 1, 10, 1), utc(2026, 1, 10, 2))
    assert found == [(utc(2026, 1, 9, 22), utc(2026, 1, 10, 4))]


def test_relative_monthly_last_friday_follows_each_month_s_calendar() -> None:
    last_friday = MaintenanceWindow(RelativeMonthly(1, "Last", FRI), 8, time(0))
    found = occurrences(auto_upgrade(last_friday), utc(2026, 1, 1), utc(2026, 4, 1))
    assert [s.date() for s, _ in found] == [date(2026, 1, 30), date(2026, 2, 27),
                                            date(2026, 3, 27)]


def test_relative_monthly_second_monday_every_two_months() -> None:
    second_monday = MaintenanceWindow(RelativeMonthly(2, "Second", MON), 4, time(3),
                                      start_date=date(2026, 1, 1))
    found = occurrences(auto_upgrade(second_monday), utc(2026, 1, 1), utc(2026, 6, 1))
    assert [s.date() for s, _ in found] == [date(2026, 1, 12), date(2026, 3, 9),
                                            date(2026, 5, 11)]


def test_weekly_intervals_count_from_the_first_matching_day_on_or_after_start_date() -> None:
    every_other_wednesday = MaintenanceWindow(Weekly(2, WED), 4, time(1),
                                              start_date=date(2026, 1, 8))  # a Thursday
    found = occurrences(auto_upgrade(every_other_wednesday), utc(2026, 1, 1), utc(2026, 2, 15))
    assert [s.date() for s, _ in found] == [date(2026, 1, 14), date(2026, 1, 28),
                                            date(2026, 2, 11)]


def test_daily_every_three_days_counts_from_start_date() -> None:
    node_os = MaintenanceConfig(Kind.NODE_OS.value, MaintenanceWindow(
        Daily(3), 4, time(0), start_date=date(2026, 1, 2)))
    found = occurrences(node_os, utc(2026, 1, 1), utc(2026, 1, 12))
    assert [s.date() for s, _ in found] == [date(2026, 1, 2), date(2026, 1, 5),
                                            date(2026, 1, 8), date(2026, 1, 11)]


def test_absolute_monthly_every_three_months_and_skips_months_without_the_day() -> None:
    quarterly = MaintenanceWindow(AbsoluteMonthly(3, 15), 4, time(9),
                                  start_date=date(2026, 2, 1))
    found = occurrences(auto_upgrade(quarterly), utc(2026, 1, 1), utc(2026, 9, 1))
    assert [s.date() for s, _ in found] == [date(2026, 2, 15), date(2026, 5, 15),
                                            date(2026, 8, 15)]
    on_the_31st = MaintenanceWindow(AbsoluteMonthly(1, 31), 4, time(9))
    found = occurrences(auto_upgrade(on_the_31st), utc(2026, 1, 1), utc(2026, 4, 1))
    assert [s.date() for s, _ in found] == [date(2026, 1, 31), date(2026, 3, 31)]


def test_no_window_before_start_date() -> None:
    later = MaintenanceWindow(Weekly(1, TUE), 4, time(1), start_date=date(2026, 1, 15))
    found = occurrences(auto_upgrade(later), utc(2026, 1, 1), utc(2026, 1, 22))
    assert [s.date() for s, _ in found] == [date(2026, 1, 20)]


def test_not_allowed_dates_drop_a_whole_window() -> None:
    tuesdays = MaintenanceWindow(Weekly(1, TUE), 4, time(1),
                                 not_allowed_dates=(DateSpan(date(2026, 1, 12),
                                                             date(2026, 1, 14)),))
    found = occurrences(auto_upgrade(tuesdays), utc(2026, 1, 1), utc(2026, 1, 25))
    assert [s.date() for s, _ in found] == [date(2026, 1, 6), date(2026, 1, 20)]


def test_not_allowed_dates_are_local_days_and_clip_windows_that_cross_them() -> None:
    # 23:00 at +02:00 for 4 h is 21:00-01:00 UTC; 10 Jan local is blocked 9 Jan 22:00 to
    # 10 Jan 22:00 UTC, so what is left of the two nights around it are the outer hours.
    nightly = MaintenanceWindow(Daily(1), 4, time(23), parse_utc_offset("+02:00"),
                                not_allowed_dates=(DateSpan(date(2026, 1, 10),
                                                            date(2026, 1, 10)),))
    found = occurrences(auto_upgrade(nightly), utc(2026, 1, 9, 12), utc(2026, 1, 10, 23))
    assert found == [(utc(2026, 1, 9, 21), utc(2026, 1, 9, 22)),
                     (utc(2026, 1, 10, 22), utc(2026, 1, 11, 1))]


def test_legacy_default_hour_slots_are_utc_hours_joined_into_windows() -> None:
    default = MaintenanceConfig("default", time_in_week=(
        TimeInWeek(MON, (1, 2)), TimeInWeek(SUN, (23,)), TimeInWeek(MON, (0,))))
    found = occurrences(default, utc(2026, 1, 5), utc(2026, 1, 6))
    assert found == [(utc(2026, 1, 4, 23), utc(2026, 1, 5, 3))]


def test_legacy_default_not_allowed_time_removes_its_hours() -> None:
    default = MaintenanceConfig(
        "default", time_in_week=(TimeInWeek(MON, (1, 2)),),
        not_allowed_time=((utc(2026, 1, 5), utc(2026, 1, 11)),))
    found = occurrences(default, utc(2026, 1, 1), utc(2026, 1, 19))
    assert found == [(utc(2026, 1, 12, 1), utc(2026, 1, 12, 3))]


def test_overlaps_name_each_window_and_what_aks_may_do_earliest_first() -> None:
    configs = [
        auto_upgrade(MaintenanceWindow(Weekly(1, WED), 4, time(1))),
        MaintenanceConfig("default", MaintenanceWindow(Weekly(1, TUE), 4, time(22))),
        MaintenanceConfig(Kind.NODE_OS.value, MaintenanceWindow(Weekly(1, FRI), 4, time(1))),
    ]
    found = overlaps(configs, utc(2026, 1, 6, 23), utc(2026, 1, 7, 2))  # Tue night to Wed
    assert [(o.config, o.start, o.end) for o in found] == [
        ("default", utc(2026, 1, 6, 22), utc(2026, 1, 7, 2)),
        ("aksManagedAutoUpgradeSchedule", utc(2026, 1, 7, 1), utc(2026, 1, 7, 5)),
    ]
    assert "Istio add-on" in found[0].what and "patch" in found[0].what
    assert "Kubernetes version" in found[1].what


def test_an_unknown_configuration_name_still_gets_a_sentence() -> None:
    assert MaintenanceConfig("nightly").kind is None
    assert MaintenanceConfig("AKSManagedNodeOSUpgradeSchedule").kind is Kind.NODE_OS
    assert "nightly" in what_aks_may_do("nightly")
    assert what_aks_may_do("default") == what_aks_may_do(Kind.DEFAULT)


def test_offsets_and_day_names_parse_as_arm_writes_them() -> None:
    assert parse_utc_offset("-07:00") == -timedelta(hours=7)
    assert parse_utc_offset("+05:30") == timedelta(hours=5, minutes=30)
    assert parse_utc_offset(None) == timedelta(0)
    assert weekday_number("friday") == FRI
