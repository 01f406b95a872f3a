"""Prometheus metrics of one running bot, in its own registry (served on /metrics by ops.py).

- `mesh_upgrade_build_info{version,python}`: always 1, to join the version onto other series;
- `mesh_upgrade_active`: 1 on the replica that drives runs and runs jobs, 0 on a standby;
- `mesh_upgrade_runs{phase}`: runs in progress by phase, read from the store at each scrape;
- `mesh_upgrade_fleet_runs{fleet,phase,ring}`: 1 for each fleet run under way (same);
- `mesh_upgrade_runs_finished_total{outcome}`: completed, rolled_back, cancelled, failed;
- `mesh_upgrade_step_duration_seconds{phase,step}`: each step that ran, `step` a StepKind;
- `mesh_upgrade_sidecars{cluster,revision,version}`: pods by sidecar revision and proxy
  version in the cluster's last census (label sets the census no longer shows are dropped);
- `mesh_upgrade_api_errors_total{system,cause}`: failed calls to arm, kubernetes, slack,
  entra (a token that could not be obtained) and prometheus (the traffic gates' metrics
  source), by bot.upgrade.errors.Cause;
- `mesh_upgrade_ack_latency_seconds{kind}`: from a Slack request's arrival to its ack.
Runs and steps are counted from the workflow's events (bot/runtime/events.py); each adapter is
built with the callback `counter_of(system)` returns and each cluster with `observe_census`.
"""

from __future__ import annotations

import logging
import platform
import threading
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from bot.config.identity import version
from bot.upgrade.cluster_facts import Census
from bot.upgrade.errors import Cause
from bot.upgrade.kinds import AuditKind, StepKind
from bot.upgrade.phases import Phase, is_terminal
from bot.workflow.events import RunEvent, StepEvent

log = logging.getLogger(__name__)
SYSTEMS = ("arm", "kubernetes", "slack", "entra", "prometheus")
OUTCOMES = {Phase.COMPLETED: "completed", Phase.PATCH_DONE: "completed",
            Phase.ROLLED_BACK: "rolled_back", Phase.CANCELLED: "cancelled",
            Phase.FAILED: "failed"}
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
STEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)


FleetRow = tuple[str, str, str]  # fleet, phase, ring


class _State(Collector):
    """Gauges computed at scrape time: runs by phase and fleet runs (from the store), and
    being active."""

    def __init__(self, runs_by_phase: Callable[[], Mapping[str, int]],
                 active: Callable[[], bool],
                 fleets: Callable[[], Iterable[FleetRow]] = tuple) -> None:
        self._runs, self._active, self._fleets = runs_by_phase, active, fleets

    def collect(self) -> Iterator[Metric]:
        active = GaugeMetricFamily("mesh_upgrade_active",
                                   "1 on the replica that drives runs and runs jobs")
        active.add_metric([], 1.0 if self._active() else 0.0)
        yield active
        try:
            counts = self._runs()
        except Exception as exc:  # the database is down: /healthz says so; keep serving
            log.debug("runs by phase unavailable: %s", exc)
            return
        runs = GaugeMetricFamily("mesh_upgrade_runs", "Upgrade runs in progress, by phase",
                                 labels=["phase"])
        for phase in Phase:
            if not is_terminal(phase):
                runs.add_metric([phase.value], float(counts.get(phase.value, 0)))
        yield runs
        fleets = GaugeMetricFamily("mesh_upgrade_fleet_runs", "Fleet runs under way: 1 each, "
                                   "by fleet, phase and current ring",
                                   labels=["fleet", "phase", "ring"])
        try:
            for row in self._fleets():
                fleets.add_metric(list(row), 1.0)
        except Exception as exc:  # as above: the database is down
            log.debug("fleet runs unavailable: %s", exc)
            return
        yield fleets


class _Sidecars(Collector):
    """The last census of each cluster, replaced whole: a revision or version that is gone
    from the cluster is gone from /metrics too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, Mapping[str, Mapping[str, int]]] = {}

    def set(self, cluster: str, census: Census) -> None:
        with self._lock:
            self._last[cluster] = census.versions_by_revision

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "mesh_upgrade_sidecars", "Pods by sidecar revision and proxy version, as of the "
            "cluster's last census", labels=["cluster", "revision", "version"])
        with self._lock:
            last = dict(self._last)
        for cluster, revisions in sorted(last.items()):
            for revision, versions in sorted(revisions.items()):
                for proxy, pods in sorted(versions.items()):
                    family.add_metric([cluster, revision, proxy], float(pods))
        yield family


class Metrics:
    def __init__(self, runs_by_phase: Callable[[], Mapping[str, int]] = dict,
                 active: Callable[[], bool] = lambda: True) -> None:
        self.registry = CollectorRegistry()
        Gauge("mesh_upgrade_build_info", "The bot's version (always 1)", ["version", "python"],
              registry=self.registry).labels(version(), platform.python_version()).set(1)
        self.runs_finished = Counter(
            "mesh_upgrade_runs_finished", "Runs that ended, by outcome", ["outcome"],
            registry=self.registry)
        self.step_seconds = Histogram(
            "mesh_upgrade_step_duration_seconds", "Duration of one workflow step, by step kind",
            ["phase", "step"], registry=self.registry, buckets=STEP_BUCKETS)
        self.api_errors = Counter(
            "mesh_upgrade_api_errors", "Failed calls to ARM, Kubernetes, Slack and Entra ID",
            ["system", "cause"], registry=self.registry)
        self.ack_latency = Histogram(
            "mesh_upgrade_ack_latency_seconds", "From a Slack request's arrival to its ack",
            ["kind"], registry=self.registry, buckets=ACK_BUCKETS)
        for outcome in sorted(set(OUTCOMES.values())):
            self.runs_finished.labels(outcome)
        for system in SYSTEMS:  # every series exists from the start: increase() sees the first
            for cause in Cause:
                self.api_errors.labels(system, cause.value)
        self._sidecars = _Sidecars()
        self.registry.register(self._sidecars)
        self._state = _State(runs_by_phase, active)
        self.registry.register(self._state)

    def observe_state(self, runs_by_phase: Callable[[], Mapping[str, int]],
                      active: Callable[[], bool],
                      fleets: Callable[[], Iterable[FleetRow]] = tuple) -> None:
        """Where the scrape-time gauges read from, once the services exist."""
        self._state._runs, self._state._active = runs_by_phase, active
        self._state._fleets = fleets

    def counter_of(self, system: str) -> Callable[[Cause], None]:
        """What an adapter calls with the cause of each failed call to `system`; a token that
        could not be obtained is Entra ID's failure, whichever adapter wanted it."""

        def count(cause: Cause) -> None:
            self.api_errors.labels("entra" if cause is Cause.TOKEN else system,
                                   cause.value).inc()

        return count

    def observe_census(self, cluster: str, census: Census) -> None:
        self._sidecars.set(cluster, census)

    def observe_event(self, event: RunEvent) -> None:
        """A step's duration, and a run's outcome once it ends (from the workflow's events)."""
        if event.event == StepEvent.STEP_FINISHED and event.phase is not None:
            step = str(event.detail.get("step"))
            if step != StepKind.LOOK:  # nothing ran
                self.step_seconds.labels(event.phase, step).observe(
                    float(event.detail.get("seconds", 0.0)))
        elif event.event == AuditKind.PHASE_CHANGED and event.phase is not None:
            outcome = OUTCOMES.get(Phase(event.phase))
            if outcome is not None:
                self.runs_finished.labels(outcome).inc()

    def observe_ack(self, kind: str, seconds: float) -> None:
        self.ack_latency.labels(kind).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def count_phases(runs: Any) -> dict[str, int]:
    """{phase: number of runs} of an iterable of runs."""
    return dict(Tally(run.phase.value for run in runs))
