"""Cumulative request counters of one cluster, advanced with the simulated clock.

At each `update` every route (caller -> meshed workload) adds rate x elapsed simulated
seconds of requests: expected values, not random draws, so the figures are smooth and the same
on every run. A workload without Ready pods serves nothing. What a request sees depends on the
pods serving it: the share of the destination's Ready pods on each sidecar revision, and the
`bad-proxy` fault of those revisions, which fails a share with 503 and slows every request
they serve. Each route is reported by the destination's sidecar (counter and duration
histogram) and, when the caller is an Envoy (a sidecar or the gateway), by the caller's
(counter only, to keep the exposition small).
"""

from __future__ import annotations

import functools
import threading
from collections import defaultdict
from dataclasses import dataclass

from meshsim.clock import SimClock
from meshsim.kube.store import Store
from meshsim.traffic import census, routes
from meshsim.traffic.census import Workload
from meshsim.traffic.faults import ProxyFaults
from meshsim.traffic.profile import BUCKETS, Profile, profile_for
from meshsim.traffic.routes import Caller

# Envoy's response flags: the destination's sidecar failing to hand a request to its app is an
# upstream connection failure (UF); the caller's sidecar, its retries used up, reports URX.
DESTINATION_FLAG, SOURCE_FLAG = "UF", "URX"
SeriesKey = tuple[str, str, str, str, str, str]  # reporter, source ns/name, dest ns/name, code


@dataclass
class Counter:
    labels: dict[str, str]
    count: float = 0.0
    total_ms: float = 0.0
    buckets: list[float] | None = None  # cumulative, per BUCKETS; None: no histogram
    rendered: str = ""  # the labels as exposition text, written once


@dataclass(frozen=True)
class Outcome:
    """One code's share of a route's requests and how their latency is spread."""

    code: str
    share: float
    mix: tuple[tuple[float, float], ...]  # (weight, extra latency ms)


class TrafficModel:
    def __init__(self, store: Store, clock: SimClock, faults: ProxyFaults,
                 cluster: str = "Kubernetes") -> None:
        self.store, self.clock, self.faults, self.cluster = store, clock, faults, cluster
        self.series: dict[SeriesKey, Counter] = {}
        self._last: float | None = None
        self._lock = threading.Lock()

    def update(self) -> list[Counter]:
        """Advance every counter to now; the counters, in a stable order."""
        with self._lock:
            now = self.clock.now()
            elapsed = 0.0 if self._last is None else max(now - self._last, 0.0)
            self._last = now
            if elapsed > 0 or not self.series:
                self._advance(elapsed)
            return [self.series[k] for k in sorted(self.series)]

    def _advance(self, elapsed: float) -> None:
        found = census.take(self.store)
        entry = routes.gateway(found)
        by_namespace: dict[str, list[Workload]] = defaultdict(list)
        for workload in found.values():
            if workload.meshed:
                by_namespace[workload.namespace].append(workload)
        faults = self.faults.current()
        bad = {rev: (f.error_ratio, f.extra_latency_ms) for rev, f in faults.items()}
        for workload in (w for w in found.values() if w.meshed):
            notes = census.notes(self.store, workload)
            profile = profile_for(workload.namespace, workload.name, notes)
            sources = routes.callers(workload, notes, found, by_namespace[workload.namespace],
                                     entry)
            outcomes = _outcomes(profile, workload.shares(), bad)
            for source in sources:
                if source is not None and source.ready_pods == 0:
                    continue  # a caller with no Ready pods sends nothing
                requests = profile.rps / len(sources) * elapsed if outcomes else 0.0
                self._add(source, workload, profile, outcomes, requests)

    def _add(self, source: Caller, dest: Workload, profile: Profile,
             outcomes: list[Outcome], requests: float) -> None:
        for outcome in outcomes:
            n = requests * outcome.share
            counter = self._counter("destination", source, dest, outcome.code, DESTINATION_FLAG)
            counter.count += n
            counter.total_ms += n * sum(w * profile.mean_ms(x) for w, x in outcome.mix)
            assert counter.buckets is not None
            for weight, extra in outcome.mix:
                for i, share in enumerate(_below(profile, extra)):
                    counter.buckets[i] += n * weight * share
            if source is not None:
                self._counter("source", source, dest, outcome.code, SOURCE_FLAG).count += n

    def _counter(self, reporter: str, source: Caller, dest: Workload, code: str,
                 flag: str) -> Counter:
        src = ("unknown", "unknown") if source is None else (source.namespace, source.name)
        key = (reporter, *src, dest.namespace, dest.name, code)
        counter = self.series.get(key)
        if counter is None:
            labels = self._labels(reporter, source, dest, code, flag)
            counter = Counter(labels, buckets=[0.0] * len(BUCKETS)
                              if reporter == "destination" else None)
            self.series[key] = counter
        return counter

    def _labels(self, reporter: str, source: Caller, dest: Workload, code: str,
                flag: str) -> dict[str, str]:
        """Istio's standard labels (istio/proxy istio_stats.cc `all_tags_`)."""
        service = census.service(self.store, dest) or dest.canonical_service
        src = _peer("source", source, self.cluster)
        return {
            "reporter": reporter, **src, **_peer("destination", dest, self.cluster),
            "destination_service": f"{service}.{dest.namespace}.svc.cluster.local",
            "destination_service_name": service, "destination_service_namespace": dest.namespace,
            "request_protocol": "http", "response_code": code, "grpc_response_status": "",
            "response_flags": flag if code == "503" else "-",
            "connection_security_policy": ("unknown" if reporter == "source" else
                                           "none" if source is None else "mutual_tls")}


def _peer(side: str, workload: Caller, cluster: str) -> dict[str, str]:
    if workload is None:
        values = dict.fromkeys(("workload", "workload_namespace", "principal", "app", "version",
                                "canonical_service", "cluster"), "unknown")
        values["canonical_revision"] = "latest"
    else:
        values = {"workload": workload.name, "workload_namespace": workload.namespace,
                  "principal": workload.principal, "app": workload.app,
                  "version": workload.version, "canonical_service": workload.canonical_service,
                  "canonical_revision": workload.canonical_revision, "cluster": cluster}
    return {f"{side}_{k}": v for k, v in values.items()}


def _outcomes(profile: Profile, shares: dict[str, float],
              bad: dict[str, tuple[float, float]]) -> list[Outcome]:
    """200s, the app's 500s and the bad proxies' 503s, with their latency mixes."""
    if not shares or profile.rps <= 0:
        return []
    failed = sum(s * bad.get(r, (0.0, 0.0))[0] for r, s in shares.items())
    served = [(s * (1 - bad.get(r, (0.0, 0.0))[0]), bad.get(r, (0.0, 0.0))[1])
              for r, s in shares.items()]
    fails = [(s * bad[r][0], bad[r][1]) for r, s in shares.items() if r in bad and bad[r][0]]
    out = []
    if failed < 1:
        mix = tuple((w / (1 - failed), x) for w, x in served if w)
        out.append(Outcome("200", (1 - failed) * (1 - profile.error_ratio), mix))
        if profile.error_ratio:
            out.append(Outcome("500", (1 - failed) * profile.error_ratio, mix))
    if failed > 0:
        out.append(Outcome("503", failed, tuple((w / failed, x) for w, x in fails)))
    return out


@functools.lru_cache(maxsize=8192)
def _below(profile: Profile, extra_ms: float) -> tuple[float, ...]:
    return tuple(profile.share_below(le, extra_ms) for le in BUCKETS)
