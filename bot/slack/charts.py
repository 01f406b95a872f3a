"""The sidecar census as a PNG for the run's thread (uploaded with files_upload_v2).

Left: pods per revision (or proxy version) in each namespace, as stacked bars, the biggest
namespaces first and the rest summed as "others". Right: pods per revision over the run.
Uses matplotlib's object API with the Agg canvas (no pyplot, so no global state between
threads) and fixed PNG metadata, so the same census gives the same bytes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

TOP_NAMESPACES = 15
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
_NONE = "no sidecar"

History = Sequence[tuple[datetime, Mapping[str, int]]]


def census_chart(per_namespace: Mapping[str, Mapping[str, int]], history: History) -> bytes:
    """PNG bytes: namespace bars (left) and the change over the run (right)."""
    figure = Figure(figsize=(11, 4.5), dpi=80)
    FigureCanvasAgg(figure)
    series = _series(per_namespace, history)
    left = figure.add_subplot(1, 2, 1)
    right = figure.add_subplot(1, 2, 2)
    _bars(left, _top(per_namespace), series)
    _lines(right, history, series)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _label(key: str) -> str:
    return key or _NONE


def _version_key(key: str) -> tuple[int, ...]:
    """asm-1-9 before asm-1-10, and "no sidecar" last."""
    return tuple(int(n) for n in re.findall(r"\d+", key)) if key else (10**9,)


def _series(per_namespace: Mapping[str, Mapping[str, int]], history: History) -> list[str]:
    keys = {k for counts in per_namespace.values() for k in counts}
    keys |= {k for _, counts in history for k in counts}
    return sorted(keys, key=lambda k: (_version_key(k), k))


def _top(per_namespace: Mapping[str, Mapping[str, int]]) -> list[tuple[str, Mapping[str, int]]]:
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


def _bars(ax: Axes, rows: list[tuple[str, Mapping[str, int]]], series: list[str]) -> None:
    names = [name[:30] for name, _ in reversed(rows)]
    counts = [counts for _, counts in reversed(rows)]
    left = [0] * len(rows)
    for index, key in enumerate(series):
        widths = [c.get(key, 0) for c in counts]
        ax.barh(names, widths, left=left, label=_label(key),
                color=_COLORS[index % len(_COLORS)])
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.set_title("Pods per namespace")
    ax.set_xlabel("pods")
    if not rows:
        ax.text(0.5, 0.5, "no pods", ha="center", transform=ax.transAxes)
    if series:
        ax.legend(loc="best", fontsize="small")


def _lines(ax: Axes, history: History, series: list[str]) -> None:
    ordered = sorted(history, key=lambda point: point[0])
    start = ordered[0][0] if ordered else None
    minutes = [(t - start).total_seconds() / 60 for t, _ in ordered] if start else []
    for index, key in enumerate(series):
        pods = [counts.get(key, 0) for _, counts in ordered]
        ax.plot(minutes, pods, marker="o", markersize=3, label=_label(key),
                color=_COLORS[index % len(_COLORS)])
    ax.set_title("Over the run")
    ax.set_ylabel("pods")
    if not ordered:
        ax.text(0.5, 0.5, "no history yet", ha="center", transform=ax.transAxes)
    if start is not None:
        ax.set_xlabel(f"minutes since {start:%Y-%m-%d %H:%M %Z}".strip())
