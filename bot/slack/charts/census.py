"""The sidecar census as a PNG for the run's thread (uploaded with files_upload_v2), and its
alt text in words.

Top: pods per revision over the run, on a UTC clock axis. Bottom: pods per revision in the
biggest namespaces now. Sized for Slack's ~360 px thread preview: 480 px wide, 11-13 pt text,
the Okabe-Ito colour-blind-safe palette plus markers, line styles and hatches per series.
Uses matplotlib's object API with the Agg canvas (no pyplot, so no global state between
threads) and writes the PNG without metadata, so the same census gives the same bytes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator
from PIL import Image

TOP_NAMESPACES = 8
# Okabe & Ito, "Color Universal Design" (2008): distinct for the common colour-blindnesses.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
             "#000000")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_LINESTYLES: tuple[Literal["-", "--", ":", "-."], ...] = ("-", "--", ":", "-.")
_HATCHES = ("", "//", "..", "xx", "\\\\", "++", "oo", "--")
_FONT, _SMALL = 12, 11
_NONE = "no sidecar"
ALT_TEXT_LIMIT = 1000  # files.getUploadURLExternal: alt_txt "max 1000 characters"

History = Sequence[tuple[datetime, Mapping[str, int]]]
Census = Mapping[str, Mapping[str, int]]


def census_chart(per_namespace: Census, history: History) -> bytes:
    """PNG bytes: the change over the run (top) and the namespaces now (bottom)."""
    return _png(census_figure(per_namespace, history))


def census_figure(per_namespace: Census, history: History) -> Figure:
    figure = Figure(figsize=(4.8, 6.4), dpi=100, layout="constrained")
    series = _series(per_namespace, history)
    top, bottom = figure.subplots(2, 1, height_ratios=(1, 1.1))
    _lines(top, sorted(history, key=lambda point: point[0]), series)
    _bars(bottom, _top(per_namespace), series)
    if series:  # one key for both panels: each entry shows the bar's hatch and the line's marker
        handles: list[Any] = [_key(index) for index in range(len(series))]
        figure.legend(handles,
                      [_label(k) for k in series], loc="outside upper center",
                      ncols=min(len(series), 3), fontsize=_SMALL, frameon=False,
                      handler_map={tuple: HandlerTuple(ndivide=None, pad=0.4)})
    return figure


def _png(figure: Figure) -> bytes:
    """A 64-colour palette PNG: flat colours and text survive, and it is a third the size."""
    raw = io.BytesIO()
    figure.savefig(raw, format="rgba")
    size = (round(figure.get_figwidth() * figure.dpi), round(figure.get_figheight() * figure.dpi))
    image = Image.frombytes("RGBA", size, raw.getvalue())
    out = io.BytesIO()
    image.convert("RGB").quantize(colors=64).save(out, format="png", optimize=True)
    return out.getvalue()


def census_alt_text(per_namespace: Census, history: History) -> str:
    """What the chart shows, in words, for screen readers (the upload's alt_txt)."""
    ordered = sorted(history, key=lambda point: point[0])
    text = f"{_history_words(ordered)} {_namespace_words(_top(per_namespace))}"
    return text if len(text) <= ALT_TEXT_LIMIT else text[:ALT_TEXT_LIMIT - 1] + "…"


def _label(key: str) -> str:
    return key or _NONE


def _color(index: int) -> str:
    return OKABE_ITO[index % len(OKABE_ITO)]


def _key(index: int) -> tuple[Rectangle, Line2D]:
    bar = Rectangle((0, 0), 1, 1, facecolor=_color(index), hatch=_HATCHES[index % len(_HATCHES)],
                    edgecolor="white", linewidth=0.5)
    return bar, Line2D([], [], color=_color(index), marker=_MARKERS[index % len(_MARKERS)],
                       linestyle=_LINESTYLES[index % len(_LINESTYLES)], linewidth=2)


def _version_key(key: str) -> tuple[int, ...]:
    """asm-1-9 before asm-1-10, and "no sidecar" last."""
    return tuple(int(n) for n in re.findall(r"\d+", key)) if key else (10**9,)


def _series(per_namespace: Census, history: History) -> list[str]:
    keys = {k for counts in per_namespace.values() for k in counts}
    keys |= {k for _, counts in history for k in counts}
    return sorted(keys, key=lambda k: (_version_key(k), k))


def _top(per_namespace: Census) -> list[tuple[str, Mapping[str, int]]]:
    ordered = sorted(per_namespace.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    top = list(ordered[:TOP_NAMESPACES])
    rest = ordered[TOP_NAMESPACES:]
    if rest:
        summed: dict[str, int] = {}
        for _, counts in rest:
            for key, pods in counts.items():
                summed[key] = summed.get(key, 0) + pods
        top.append((f"others ({len(rest)})", summed))
    return top


def _short(name: str, limit: int = 18) -> str:
    return name if len(name) <= limit else name[:limit - 1] + "…"


def _bars(ax: Axes, rows: list[tuple[str, Mapping[str, int]]], series: list[str]) -> None:
    names = [_short(name) for name, _ in reversed(rows)]
    counts = [counts for _, counts in reversed(rows)]
    left = [0] * len(rows)
    for index, key in enumerate(series):
        widths = [c.get(key, 0) for c in counts]
        ax.barh(names, widths, left=left, color=_color(index),
                       hatch=_HATCHES[index % len(_HATCHES)], edgecolor="white", linewidth=0.5)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    _decorate(ax, "Pods per namespace now", "pods")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    if not rows:
        ax.text(0.5, 0.5, "no pods", ha="center", transform=ax.transAxes, fontsize=_FONT)


def _lines(ax: Axes, ordered: History, series: list[str]) -> None:
    times = [t.astimezone(UTC) for t, _ in ordered]
    seconds = [t.timestamp() for t in times]
    for index, key in enumerate(series if times else []):
        ax.plot(seconds, [counts.get(key, 0) for _, counts in ordered], color=_color(index),
                marker=_MARKERS[index % len(_MARKERS)], markersize=5, linewidth=2,
                linestyle=_LINESTYLES[index % len(_LINESTYLES)], clip_on=False)
    _decorate(ax, "Sidecars by revision over the run", None)
    ax.set_ylabel("pods", fontsize=_FONT)
    if times:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        ax.set_ylim(bottom=0)  # no "-25 pods" tick; clip_on=False keeps the markers at 0 whole
        _clock_axis(ax, times[0], times[-1])
    else:
        ax.set(xticks=[], yticks=[])
        ax.text(0.5, 0.5, "no history yet", ha="center", transform=ax.transAxes, fontsize=_FONT)


def _decorate(ax: Axes, title: str, xlabel: str | None) -> None:
    ax.set_title(title, fontsize=_FONT + 1)
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=_FONT)
    ax.tick_params(labelsize=_SMALL)
    ax.grid(alpha=0.3)


def _clock_axis(ax: Axes, start: datetime, end: datetime) -> None:
    ticks = clock_ticks(start, end)
    low, high = (ticks[0], ticks[-1]) if len(ticks) > 1 else \
        (start - timedelta(minutes=1), end + timedelta(minutes=1))
    pad = (high - low).total_seconds() * 0.03  # the first and last markers stay whole
    ax.set_xlim(low.timestamp() - pad, high.timestamp() + pad)
    tick_format = _clock_format(start, end).replace(" %H", "\n%H")
    ax.set_xticks([t.timestamp() for t in ticks], [f"{t:{tick_format}}" for t in ticks])
    day = f"{start:%d %b %Y}" if start.date() == end.date() else \
        f"{start:%d %b} to {end:%d %b %Y}"
    ax.set_xlabel(f"time (UTC), {day}", fontsize=_FONT)


_STEPS = tuple(timedelta(seconds=s) for s in (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
    172800, 604800))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def clock_ticks(start: datetime, end: datetime, most: int = 4) -> list[datetime]:
    """UTC clock times on a round step (5 min, 1 h, ...) covering start..end in at most
    `most` steps; the axis spans exactly these ticks. One tick when start == end."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start == end:
        return [start]
    for step in _STEPS:
        first = _EPOCH + step * ((start - _EPOCH) // step)
        last = _EPOCH + step * -((_EPOCH - end) // step)  # ceiling
        if (last - first) // step <= most or step == _STEPS[-1]:
            return [first + step * i for i in range((last - first) // step + 1)]
    raise AssertionError("unreachable: the last step always returns")


def _clock_format(start: datetime, end: datetime) -> str:
    """One clock format for the axis and the alt text: seconds only when the run is short."""
    if start.date() != end.date():
        return "%d %b %H:%M"
    return "%H:%M:%S" if end - start < timedelta(minutes=3) else "%H:%M"


def _history_words(ordered: History) -> str:
    if not ordered:
        return "Sidecars by revision: no census history yet."
    (start, first), (end, last) = ordered[0], ordered[-1]
    keys = _series({}, ordered)
    clock = _clock_format(start, end)
    if start == end:
        counts = _join([f"{_label(k)} {last.get(k, 0)} pods" for k in keys]) or "no pods"
        return f"Sidecars by revision at {start.astimezone(UTC):{clock}} UTC: {counts}."
    changes = _join([_change(_label(k), first.get(k, 0), last.get(k, 0)) for k in keys])
    return (f"Sidecars by revision over the run: {changes or 'no pods'} between "
            f"{start.astimezone(UTC):{clock}} and {end.astimezone(UTC):{clock}} UTC.")


def _change(name: str, before: int, after: int) -> str:
    if before == after:
        return f"{name} stayed at {after} pods"
    return f"{name} {'rose' if after > before else 'fell'} from {before} to {after} pods"


def _namespace_words(rows: list[tuple[str, Mapping[str, int]]]) -> str:
    if not rows:
        return "No pods in any namespace now."
    shown = [f"{name} ({', '.join(f'{_label(k)} {n}' for k, n in sorted(c.items()) if n)})"
             for name, c in rows[:5]]
    return f"Largest namespaces now: {'; '.join(shown)}."


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1] \
        if parts else ""
