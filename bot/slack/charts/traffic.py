"""A traffic verdict as a PNG for the run's thread, and its alt text in words.

Per workload (the worst first, at most eight), before and after: the success rate (top) and
the p99 latency (bottom), as pairs of horizontal bars. Same house style as the census chart:
480 px wide, Okabe-Ito colours plus hatches (before plain, after hatched), the object API on
the Agg canvas, and a PNG without metadata, so the same verdict gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from bot.slack.charts.census import _FONT, _SMALL, ALT_TEXT_LIMIT, OKABE_ITO, _png
from bot.slack.wording.traffic import millis, outcome_words, percent, worst_first
from bot.traffic.signals import Signals
from bot.traffic.verdicts import Judgement, Outcome, Verdict

WORKLOADS_SHOWN = 8
_SIDES = (("before", OKABE_ITO[0], ""), ("after", OKABE_ITO[3], "//"))
_BAR = 0.38


def traffic_chart(verdict: Verdict, label: str) -> bytes:
    """PNG bytes: success rate and p99 before and after, per workload, worst first."""
    return _png(traffic_figure(verdict, label))


def traffic_figure(verdict: Verdict, label: str) -> Figure:
    rows = _shown(verdict)
    figure = Figure(figsize=(4.8, 2.2 + 0.7 * max(len(rows), 1)), dpi=100, layout="constrained")
    rate, p99 = figure.subplots(2, 1)
    _panel(rate, rows, lambda s: s.success_rate, f"Success rate (%) {label}")
    _panel(p99, rows, lambda s: s.p99_ms, f"p99 latency (ms) {label}")
    _rate_limits(rate, rows)
    keys = [Rectangle((0, 0), 1, 1, facecolor=c, hatch=h, edgecolor="white", linewidth=0.5)
            for _, c, h in _SIDES]
    figure.legend(keys, [name for name, _, _ in _SIDES], loc="outside upper center", ncols=2,
                  fontsize=_SMALL, frameon=False)
    return figure


def traffic_alt_text(verdict: Verdict, label: str) -> str:
    """What the chart shows, in words, for screen readers (the upload's alt_txt)."""
    rows = _shown(verdict)
    if not rows:
        return f"Traffic {label}: no workloads to show ({verdict.summary()})."
    words = [f"{j.workload.name} in {j.workload.namespace} "
             f"({outcome_words(j.outcome.value)}): success rate "
             f"{percent(j.before.success_rate)} to {percent(j.after.success_rate)}, "
             f"p99 {millis(j.before.p99_ms)} to {millis(j.after.p99_ms)}" for j in rows]
    text = (f"Traffic {label}, before and after, worst first: {'; '.join(words)}. "
            f"In all: {verdict.summary()}.")
    return text if len(text) <= ALT_TEXT_LIMIT else text[:ALT_TEXT_LIMIT - 1] + "…"


def _shown(verdict: Verdict) -> tuple[Judgement, ...]:
    return worst_first(verdict)[:WORKLOADS_SHOWN]


def _panel(ax: Axes, rows: Sequence[Judgement], value: Callable[[Signals], float | None],
           title: str) -> None:
    positions = list(range(len(rows)))[::-1]  # the worst on top
    for offset, (side, (_, color, hatch)) in zip((_BAR / 2, -_BAR / 2), enumerate(_SIDES),
                                                 strict=True):
        figures = [value(j.before if side == 0 else j.after) for j in rows]
        ax.barh([p + offset for p in positions], [v or 0.0 for v in figures], height=_BAR,
                color=color, hatch=hatch, edgecolor="white", linewidth=0.5)
    ax.set_yticks(positions, [_short(j) for j in rows])
    for tick, j in zip(ax.get_yticklabels(), rows, strict=True):
        tick.set_fontweight("bold" if j.outcome is Outcome.BREACHED else "normal")
    ax.set_title(title, fontsize=_FONT)
    ax.tick_params(labelsize=_SMALL)
    ax.grid(axis="x", alpha=0.3)
    if not rows:
        ax.set(xticks=[], yticks=[])
        ax.text(0.5, 0.5, "no workloads", ha="center", transform=ax.transAxes, fontsize=_FONT)


def _rate_limits(ax: Axes, rows: Sequence[Judgement]) -> None:
    """Success rates sit near 100 %: start the axis just below the lowest, so a drop shows."""
    rates = [r for j in rows for r in (j.before.success_rate, j.after.success_rate)
             if r is not None]
    if rates:
        ax.set_xlim(max(min(rates) - 1.0, 0.0) // 1, 100.0)


def _short(j: Judgement, limit: int = 16) -> str:
    name = j.workload.name
    return name if len(name) <= limit else name[:limit - 1] + "…"
