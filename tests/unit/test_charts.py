"""The census chart: a real PNG sized for Slack's preview, stable for the same census, on a UTC
clock axis with round ticks, in colour-blind-safe colours, with alt text that says what it shows."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

import pytest
from matplotlib.figure import Figure

from bot.slack.charts.census import (
    OKABE_ITO,
    census_alt_text,
    census_chart,
    census_figure,
    clock_ticks,
)

PNG = b"\x89PNG\r\n\x1a\n"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
HISTORY = [(T0 + timedelta(minutes=5 * i), {"asm-1-22": 100 - 10 * i, "asm-1-23": 10 * i})
           for i in range(11)]


def size(png: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk follows the signature
    return width, height


def test_the_chart_is_a_png_of_the_expected_size() -> None:
    png = census_chart({"shop": {"asm-1-22": 3, "asm-1-23": 5}, "web": {"": 2}}, HISTORY)
    assert png.startswith(PNG) and 5_000 < len(png) < 30_000
    assert size(png) == (480, 640)  # ~0.75 scale in a 360 px preview


def test_the_same_census_gives_the_same_bytes_and_another_census_differs() -> None:
    census = {"shop": {"asm-1-22": 3, "asm-1-23": 5}}
    assert census_chart(census, HISTORY) == census_chart(census, HISTORY)
    moved = {"shop": {"asm-1-22": 0, "asm-1-23": 8}}
    assert census_chart(moved, HISTORY) != census_chart(census, HISTORY)
    assert census_chart(census, HISTORY[:3]) != census_chart(census, HISTORY)


def test_two_thousand_namespaces_render_as_one_png() -> None:
    many = {f"ns-{i:04d}": {"asm-1-22": i % 7, "asm-1-23": i % 5, "": i % 2} for i in range(2000)}
    png = census_chart(many, HISTORY)
    assert png.startswith(PNG) and 5_000 < len(png) < 30_000


def test_many_namespaces_are_summed_into_others() -> None:
    top = {f"ns-{i:02d}": {"asm-1-23": 100 + i} for i in range(15)}
    tail_a = {**top, **{f"small-{i}": {"asm-1-23": 1} for i in range(50)}}
    tail_b = {**top, **{f"tiny-{i}": {"asm-1-23": 1} for i in range(50)}}
    # the 50 small namespaces only appear as "others (50)", so their names do not matter
    assert census_chart(tail_a, []) == census_chart(tail_b, [])
    # ... but they are drawn: without them the chart differs
    assert census_chart(tail_a, []) != census_chart(top, [])


def test_an_empty_census_still_gives_a_png() -> None:
    png = census_chart({}, [])
    assert png.startswith(PNG) and size(png) == (480, 640)


def test_the_alt_text_states_each_revisions_start_and_end_counts_and_the_time_span() -> None:
    start = datetime(2026, 12, 4, 9, 41, 12, tzinfo=UTC)
    history = [(start + timedelta(minutes=m), {"asm-1-22": 12 - m * 12 // 17,
                                               "asm-1-23": m * 12 // 17}) for m in range(18)]
    text = census_alt_text({"payments": {"asm-1-23": 12}}, history)
    assert text.startswith("Sidecars by revision over the run: asm-1-22 fell from 12 to 0 pods "
                           "and asm-1-23 rose from 0 to 12 pods between 09:41 and 09:58 UTC.")
    assert "payments (asm-1-23 12)" in text


def test_the_alt_text_of_a_first_check_and_of_a_huge_census_stays_within_slacks_limit() -> None:
    first = census_alt_text({"shop": {"asm-1-22": 3, "": 1}}, HISTORY[:1])
    assert first.startswith("Sidecars by revision at 09:00:00 UTC: asm-1-22 100 pods and "
                            "asm-1-23 0 pods.")
    many = {f"namespace-with-a-long-name-{i:04d}": {f"asm-1-{v}": 1 for v in range(40)}
            for i in range(50)}
    assert len(census_alt_text(many, HISTORY)) <= 1000  # files.getUploadURLExternal's alt_txt


@pytest.mark.parametrize(("span", "labels"), [
    (timedelta(seconds=3), ["09:00:00", "09:00:01", "09:00:02", "09:00:03"]),
    (timedelta(minutes=17), ["09:00", "09:05", "09:10", "09:15", "09:20"]),
    (timedelta(hours=6), ["08:00", "10:00", "12:00", "14:00", "16:00"]),
])
def test_clock_ticks_are_round_utc_times_a_few_steps_apart(span: timedelta,
                                                            labels: list[str]) -> None:
    start = T0 + timedelta(minutes=41) if span > timedelta(hours=1) else T0
    ticks = clock_ticks(start, start + span)
    fmt = "%H:%M:%S" if span < timedelta(minutes=1) else "%H:%M"
    assert [f"{t:{fmt}}" for t in ticks] == labels
    assert all(t.tzinfo == UTC for t in ticks)


def test_the_drawn_axis_shows_clock_times_in_utc_not_fractions_of_a_minute() -> None:
    figure = _figure({"shop": {"asm-1-22": 3}}, HISTORY)
    over_the_run = figure.axes[0]
    labels = [t.get_text() for t in over_the_run.get_xticklabels()]
    assert labels == ["09:00", "09:15", "09:30", "09:45", "10:00"]
    assert "UTC" in over_the_run.get_xlabel()
    pods = [t.get_text() for t in over_the_run.get_yticklabels()]
    assert pods and all(p.isdigit() for p in pods)  # whole pods, never 0.05
    assert min(float(t.get_fontsize()) for a in figure.axes for t in a.get_xticklabels()) >= 11


def test_series_use_the_okabe_ito_palette_with_a_distinct_marker_and_line_style() -> None:
    history = [(T0, {"asm-1-22": 3, "asm-1-23": 0, "": 1}), (T0 + timedelta(minutes=9),
                                                            {"asm-1-22": 0, "asm-1-23": 3, "": 1})]
    lines = _figure({"shop": {"asm-1-23": 3, "": 1}}, history).axes[0].get_lines()
    assert [str(line.get_color()).upper() for line in lines] == list(OKABE_ITO[:3])
    assert len({line.get_marker() for line in lines}) == 3
    assert len({line.get_linestyle() for line in lines}) == 3


def _figure(per_namespace: dict[str, dict[str, int]], history: list[tuple[datetime, dict[str, int]]]
            ) -> Figure:
    figure = census_figure(per_namespace, history)
    figure.canvas.draw()  # tick labels are filled in at draw time
    return figure
