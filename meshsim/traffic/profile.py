"""What a workload's traffic looks like when nobody is breaking it: a request rate, a share of
requests its app fails, and a log-normal latency from a median and a p99.

Defaults come from a stable hash of `namespace/name` (5-50 rps, 0.1-0.5 % errors, median
5-30 ms, p99 four times the median), so every run of a scenario sees the same figures;
annotations on the workload or its pod template override them:

    traffic.meshsim.io/rps: "0.01"            requests per simulated second
    traffic.meshsim.io/error-ratio: "0.002"   share of requests the app answers 500
    traffic.meshsim.io/latency-ms: "20,80"    median, optionally ",p99"
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass

RPS, ERROR_RATIO, LATENCY = ("traffic.meshsim.io/rps", "traffic.meshsim.io/error-ratio",
                             "traffic.meshsim.io/latency-ms")
CALLERS = "traffic.meshsim.io/callers"  # "productpage-v1,shop/web": who sends the requests
P99_Z = 2.3263478740408408  # the standard normal's 99th percentile
# Envoy's default histogram buckets (HistogramSettingsImpl::defaultBuckets), which Istio keeps
# unless a pod sets sidecar.istio.io/statsHistogramBuckets (pkg/bootstrap/config.go).
BUCKETS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
           300000, 600000, 1800000, 3600000)


@dataclass(frozen=True)
class Profile:
    rps: float
    error_ratio: float
    median_ms: float
    p99_ms: float

    @property
    def sigma(self) -> float:
        return math.log(self.p99_ms / self.median_ms) / P99_Z

    def share_below(self, le: float, extra_ms: float = 0.0) -> float:
        """The share of requests done within `le` ms, each slowed by `extra_ms`."""
        x = le - extra_ms
        if x <= 0:
            return 0.0
        z = (math.log(x) - math.log(self.median_ms)) / self.sigma
        return 0.5 * math.erfc(-z / math.sqrt(2))

    def mean_ms(self, extra_ms: float = 0.0) -> float:
        return self.median_ms * math.exp(self.sigma ** 2 / 2) + extra_ms


def default_profile(namespace: str, name: str) -> Profile:
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).digest()
    u = [int.from_bytes(digest[i:i + 4], "big") / 2 ** 32 for i in (0, 4, 8)]
    median = round(5 + 25 * u[2], 1)
    return Profile(rps=round(5 + 45 * u[0], 2), error_ratio=round(0.001 + 0.004 * u[1], 4),
                   median_ms=median, p99_ms=round(median * 4, 1))


def profile_for(namespace: str, name: str, notes: Mapping[str, str]) -> Profile:
    """The default profile with the annotations' overrides; a bad value keeps the default."""
    base = default_profile(namespace, name)
    rps = _number(notes.get(RPS), base.rps, low=0.0)
    errors = min(_number(notes.get(ERROR_RATIO), base.error_ratio, low=0.0), 1.0)
    median, p99 = base.median_ms, base.p99_ms
    if notes.get(LATENCY):
        parts = str(notes[LATENCY]).split(",")
        median = _number(parts[0], median, low=0.01)
        p99 = _number(parts[1] if len(parts) > 1 else None, median * 4, low=median * 1.01)
    return Profile(rps, errors, median, max(p99, median * 1.01))


def _number(text: str | None, default: float, low: float) -> float:
    try:
        value = float(text) if text is not None else default
    except ValueError:
        return default
    return value if math.isfinite(value) and value >= low else default
