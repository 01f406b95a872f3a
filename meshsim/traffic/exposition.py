"""The counters in Prometheus' text format 0.0.4, as an Envoy sidecar's /stats/prometheus
writes Istio's standard metrics: `istio_requests_total` (counter) and
`istio_request_duration_milliseconds` (histogram over Envoy's default buckets, `le` written as
Envoy's `{:g}` does: 0.5, 1, ... 3.6e+06)."""

from __future__ import annotations

from collections.abc import Iterable

from meshsim.traffic.model import Counter
from meshsim.traffic.profile import BUCKETS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REQUESTS, DURATION = "istio_requests_total", "istio_request_duration_milliseconds"
_LE = [f'le="{b:g}"' for b in BUCKETS]


def render(counters: Iterable[Counter]) -> str:
    counters = list(counters)
    lines = [f"# TYPE {REQUESTS} counter"]
    lines += [f"{REQUESTS}{{{_labels(c)}}} {c.count!r}" for c in counters]
    lines.append(f"# TYPE {DURATION} histogram")
    for counter in counters:
        if counter.buckets is not None:
            lines += _histogram(_labels(counter), counter)
    return "\n".join(lines) + "\n"


def _histogram(labels: str, counter: Counter) -> list[str]:
    assert counter.buckets is not None
    # Expected values in floats: keep each bucket at most the next and the count, as Prometheus
    # expects of a cumulative histogram.
    out, ceiling = [], counter.count
    values = [min(v, ceiling) for v in counter.buckets]
    for i in range(len(values) - 2, -1, -1):
        values[i] = min(values[i], values[i + 1])
    out += [f"{DURATION}_bucket{{{labels},{le}}} {v!r}" for le, v in zip(_LE, values, strict=True)]
    out.append(f'{DURATION}_bucket{{{labels},le="+Inf"}} {ceiling!r}')
    out.append(f"{DURATION}_sum{{{labels}}} {counter.total_ms!r}")
    out.append(f"{DURATION}_count{{{labels}}} {ceiling!r}")
    return out


def _labels(counter: Counter) -> str:
    if not counter.rendered:
        counter.rendered = ",".join(f'{k}="{_escape(v)}"' for k, v in counter.labels.items())
    return counter.rendered


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
