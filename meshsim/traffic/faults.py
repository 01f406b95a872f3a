"""The `bad-proxy` fault: a sidecar revision whose proxies fail part of the requests they
serve and slow down the rest, as a bad Envoy build or a broken config push would."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class BadProxy:
    revision: str
    error_ratio: float  # extra share of served requests that fail with 503
    extra_latency_ms: float

    def as_json(self) -> dict[str, object]:
        return {"revision": self.revision, "error_ratio": self.error_ratio,
                "extra_latency_ms": self.extra_latency_ms}


class ProxyFaults:
    """Bad proxies by revision; thread-safe (HTTP handlers and tests both set them)."""

    def __init__(self) -> None:
        self._by_revision: dict[str, BadProxy] = {}
        self._lock = threading.Lock()

    def set(self, fault: BadProxy) -> None:
        if not 0.0 <= fault.error_ratio <= 1.0:
            raise ValueError("error_ratio must be between 0 and 1")
        if fault.extra_latency_ms < 0:
            raise ValueError("extra_latency_ms must not be negative")
        with self._lock:
            self._by_revision[fault.revision] = fault

    def clear(self, revision: str | None = None) -> None:
        with self._lock:
            if revision is None:
                self._by_revision.clear()
            else:
                self._by_revision.pop(revision, None)

    def current(self) -> dict[str, BadProxy]:
        with self._lock:
            return dict(self._by_revision)

    def snapshot(self) -> list[dict[str, object]]:
        return [f.as_json() for f in sorted(self.current().values(), key=lambda f: f.revision)]
