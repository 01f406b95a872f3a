"""The census chart: a real PNG, fast, stable for the same census, different for another."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

from bot.slack.charts import census_chart

PNG = b"\x89PNG\r\n\x1a\n"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
HISTORY = [(T0 + timedelta(minutes=5 * i), {"asm-1-22": 100 - 10 * i, "asm-1-23": 10 * i})
           for i in range(11)]


def size(png: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk follows the signature
    return width, height


def test_the_chart_is_a_png_of_the_expected_size() -> None:
    png = census_chart({"shop": {"asm-1-22": 3, "asm-1-23": 5}, "web": {"": 2}}, HISTORY)
    assert png.startswith(PNG) and len(png) > 5_000
    assert size(png) == (880, 360)


def test_the_same_census_gives_the_same_bytes_and_another_census_differs() -> None:
    census = {"shop": {"asm-1-22": 3, "asm-1-23": 5}}
    assert census_chart(census, HISTORY) == census_chart(census, HISTORY)
    moved = {"shop": {"asm-1-22": 0, "asm-1-23": 8}}
    assert census_chart(moved, HISTORY) != census_chart(census, HISTORY)
    assert census_chart(census, HISTORY[:3]) != census_chart(census, HISTORY)


def test_two_thousand_namespaces_render_as_one_png() -> None:
    many = {f"ns-{i:04d}": {"asm-1-22": i % 7, "asm-1-23": i % 5, "": i % 2} for i in range(2000)}
    png = census_chart(many, HISTORY)
    assert png.startswith(PNG) and len(png) > 10_000


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
    assert png.startswith(PNG) and size(png) == (880, 360)
