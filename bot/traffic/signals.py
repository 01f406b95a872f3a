"""The golden signals of one workload over one window, as Istio's proxies report them.

A workload is what Istio's `destination_workload` and `destination_workload_namespace` name:
the Deployment (or StatefulSet, DaemonSet) whose pods serve the requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True, order=True)
class WorkloadKey:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def parse(cls, text: str) -> WorkloadKey:
        namespace, _, name = text.partition("/")
        return cls(namespace, name)


@dataclass(frozen=True)
class Window:
    """The `seconds` before `end`: one baseline or one observation."""

    end: datetime
    seconds: float

    @property
    def start(self) -> datetime:
        return self.end - timedelta(seconds=self.seconds)

    def to_json(self) -> dict[str, Any]:
        return {"end": self.end.isoformat(), "seconds": self.seconds}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Window:
        return cls(datetime.fromisoformat(data["end"]), float(data["seconds"]))


@dataclass(frozen=True)
class Signals:
    """Requests served, how many failed (5xx), and the p99 latency (None: no requests)."""

    requests: float
    errors: float
    p99_ms: float | None
    seconds: float

    @property
    def success_rate(self) -> float | None:
        """Per cent of requests that did not fail; None without requests."""
        if self.requests <= 0:
            return None
        return 100.0 * (1.0 - min(self.errors, self.requests) / self.requests)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"requests": self.requests, "errors": self.errors, "p99_ms": self.p99_ms,
                "seconds": self.seconds}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Signals:
        p99 = data.get("p99_ms")
        return cls(float(data["requests"]), float(data["errors"]),
                   None if p99 is None else float(p99), float(data["seconds"]))

    @classmethod
    def silent(cls, seconds: float) -> Signals:
        """A workload Prometheus has no requests of in the window."""
        return cls(0.0, 0.0, None, seconds)


Figures = Mapping[WorkloadKey, Signals]


def figures_to_json(figures: Figures) -> dict[str, Any]:
    return {str(k): s.to_json() for k, s in sorted(figures.items())}


def figures_from_json(data: Mapping[str, Any]) -> dict[WorkloadKey, Signals]:
    return {WorkloadKey.parse(k): Signals.from_json(v) for k, v in data.items()}
