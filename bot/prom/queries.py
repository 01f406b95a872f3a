"""The PromQL of the traffic gates, and Prometheus' answers read back into Signals.

A read is three instant queries over Istio's standard metrics for the whole list of workloads
(requests, 5xx, p99 latency), never one query per workload. The sidecar of the serving pod
reports with reporter="destination": what the workload itself served, whoever called it.
Selectors match namespaces and names as two regex alternations, so Prometheus may return
pairs that were not asked for (one workload's namespace with another's name): they are dropped
here. Pure functions only; the HTTP is bot/prom/api.py's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from bot.traffic.signals import Signals, WorkloadKey

NAMESPACE, NAME = "destination_workload_namespace", "destination_workload"
REQUESTS_METRIC = "istio_requests_total"
LATENCY_METRIC = "istio_request_duration_milliseconds_bucket"
# Prometheus parses a form body of up to 10 MB (Go's net/http ParseForm); a tenth of that
# keeps well clear of any proxy in front of it. A few hundred workloads take ~20 kB.
MAX_BODY = 1_000_000
# RE2's metacharacters; escaping any other punctuation is allowed too, but these suffice.
_REGEX_SPECIAL = frozenset("\\.+*?()|[]{}^$")

Sample = tuple[Mapping[str, str], float]  # one series of an instant vector: labels, value


@dataclass(frozen=True)
class Queries:
    requests: str
    errors: str
    p99: str


def escape_regex(text: str) -> str:
    """`text` as a regex matching exactly itself (Kubernetes names carry `.` and `-`)."""
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in text)


def quote(text: str) -> str:
    """A PromQL double-quoted string literal (Go's escapes) holding `text` verbatim."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def alternation(values: Iterable[str]) -> str:
    return "|".join(escape_regex(v) for v in sorted(set(values)))


def range_of(seconds: float) -> str:
    """A window as a PromQL range: whole seconds, rounded up, at least 1."""
    return f"{max(1, math.ceil(seconds))}s"


def selector(labels: Mapping[str, str], workloads: Sequence[WorkloadKey] = (),
             extra: str = "") -> str:
    """`{reporter="destination", <the workloads>, <extra>, <the configured labels>}`."""
    parts = ['reporter="destination"']
    if workloads:
        parts.append(f"{NAMESPACE}=~{quote(alternation(w.namespace for w in workloads))}")
        parts.append(f"{NAME}=~{quote(alternation(w.name for w in workloads))}")
    if extra:
        parts.append(extra)
    parts += [f"{name}={quote(value)}" for name, value in sorted(labels.items())]
    return "{" + ", ".join(parts) + "}"


def queries_for(workloads: Sequence[WorkloadKey], seconds: float,
                labels: Mapping[str, str]) -> Queries:
    """The three queries of one read, each for every workload of `workloads` at once."""
    window = range_of(seconds)
    by = f"{NAMESPACE}, {NAME}"
    every = selector(labels, workloads)
    failed = selector(labels, workloads, 'response_code=~"5.."')
    return Queries(
        requests=f"sum by ({by}) (increase({REQUESTS_METRIC}{every}[{window}]))",
        errors=f"sum by ({by}) (increase({REQUESTS_METRIC}{failed}[{window}]))",
        p99=(f"histogram_quantile(0.99, sum by ({by}, le) "
             f"(increase({LATENCY_METRIC}{every}[{window}])))"),
    )


def istio_series_query(labels: Mapping[str, str]) -> str:
    """How many request series the proxies report under the configured labels (doctor)."""
    return f"count({REQUESTS_METRIC}{selector(labels)})"


def body_size(query: str) -> int:
    """The size of the POST body that carries `query` (time and timeout are a few bytes)."""
    return len(urlencode({"query": query})) + 64


def chunks(workloads: Sequence[WorkloadKey], seconds: float, labels: Mapping[str, str],
           limit: int = MAX_BODY) -> list[list[WorkloadKey]]:
    """The sorted, distinct workloads in as few groups as keep each body under `limit`:
    halved until each fits (sorted, so a namespace's workloads tend to stay together)."""
    wanted = sorted(set(workloads))
    if not wanted:
        return []
    if len(wanted) == 1 or body_size(queries_for(wanted, seconds, labels).p99) <= limit:
        return [wanted]
    half = len(wanted) // 2
    return chunks(wanted[:half], seconds, labels, limit) + \
        chunks(wanted[half:], seconds, labels, limit)


def by_workload(samples: Iterable[Sample], wanted: frozenset[WorkloadKey]
                ) -> dict[WorkloadKey, float]:
    """Each requested workload's value; pairs that were not asked for are dropped."""
    out = {}
    for metric, value in samples:
        key = WorkloadKey(metric.get(NAMESPACE, ""), metric.get(NAME, ""))
        if key in wanted:
            out[key] = value
    return out


def signals_of(requests: Iterable[Sample], errors: Iterable[Sample], p99: Iterable[Sample],
               wanted: frozenset[WorkloadKey], seconds: float) -> dict[WorkloadKey, Signals]:
    """Signals of each wanted workload any query saw; no 5xx series is 0 errors, and a p99
    that is NaN (no requests in the window) or infinite (only the +Inf bucket) is None."""
    served = by_workload(requests, wanted)
    failed = by_workload(errors, wanted)
    slowest = by_workload(p99, wanted)
    out = {}
    for key in sorted(served.keys() | failed.keys() | slowest.keys()):
        latency = slowest.get(key)
        out[key] = Signals(served.get(key, 0.0), failed.get(key, 0.0),
                           latency if latency is not None and math.isfinite(latency) else None,
                           seconds)
    return out
