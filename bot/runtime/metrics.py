"""Prometheus metrics of one running bot, in its own registry (served on /metrics by ops.py).

- `mesh_upgrade_runs{phase}`: runs in progress by phase, read from the store at each scrape;
- `mesh_upgrade_step_duration_seconds{phase,step}`: how long each workflow step took;
- `mesh_upgrade_api_errors_total{system}`: failed calls to `arm`, `kubernetes`, `slack`;
- `mesh_upgrade_ack_latency_seconds{kind}`: from a Slack request's arrival to its ack;
- `mesh_upgrade_active`: 1 on the replica that drives runs and runs jobs, 0 on a standby.
Each adapter is built with the callback `Metrics.counter_of(system)` returns, so a failed call
is counted by the bot that made it (plain CLI commands count nothing).
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from bot.upgrade.kinds import StepKind
from bot.upgrade.phases import Phase, is_terminal
from bot.workflow.steps import StepResult

log = logging.getLogger(__name__)
SYSTEMS = ("arm", "kubernetes", "slack")
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
STEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
def step_name(result: StepResult) -> str | None:
    """The step's label, or None when nothing ran (a finished or paused run was looked at)."""
    return None if result.kind is StepKind.LOOK else result.kind.value


class _State(Collector):
    """Gauges computed at scrape time: runs by phase (from the store) and being active."""

    def __init__(self, runs_by_phase: Callable[[], Mapping[str, int]],
                 active: Callable[[], bool]) -> None:
        self._runs, self._active = runs_by_phase, active

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


class Metrics:
    def __init__(self, runs_by_phase: Callable[[], Mapping[str, int]] = dict,
                 active: Callable[[], bool] = lambda: True) -> None:
        self.registry = CollectorRegistry()
        self.step_seconds = Histogram(
            "mesh_upgrade_step_duration_seconds", "Duration of one workflow step",
            ["phase", "step"], registry=self.registry, buckets=STEP_BUCKETS)
        self.api_errors = Counter(
            "mesh_upgrade_api_errors", "Failed calls to ARM, Kubernetes and Slack",
            ["system"], registry=self.registry)
        self.ack_latency = Histogram(
            "mesh_upgrade_ack_latency_seconds", "From a Slack request's arrival to its ack",
            ["kind"], registry=self.registry, buckets=ACK_BUCKETS)
        for system in SYSTEMS:
            self.api_errors.labels(system)
        self._state = _State(runs_by_phase, active)
        self.registry.register(self._state)

    def observe_state(self, runs_by_phase: Callable[[], Mapping[str, int]],
                      active: Callable[[], bool]) -> None:
        """Where the scrape-time gauges read from, once the services exist."""
        self._state._runs, self._state._active = runs_by_phase, active

    def counter_of(self, system: str) -> Callable[[], None]:
        """What an adapter calls for each failed call to `system` (arm, kubernetes, slack)."""
        return self.api_errors.labels(system).inc

    def observe_step(self, result: StepResult, seconds: float) -> None:
        name = step_name(result)
        if name is not None:
            self.step_seconds.labels(result.phase, name).observe(seconds)

    def observe_ack(self, kind: str, seconds: float) -> None:
        self.ack_latency.labels(kind).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def count_phases(runs: Any) -> dict[str, int]:
    """{phase: number of runs} of an iterable of runs."""
    return dict(Tally(run.phase.value for run in runs))
