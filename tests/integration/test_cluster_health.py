"""Health of the workloads in scope: replicas, pods not Ready, crash loops and restarts since
the phase start, with the simulator's crashloop fault on the canary's sidecars."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.kube.restarts import restart_stamp
from bot.upgrade.cluster_facts import HealthReport, WorkloadRef
from tests.integration.cluster_sim import CANARY, SimCluster, running, wait_for

PAYMENTS = WorkloadRef("Deployment", "payments", "payments-api")
SCOPE = ("payments", "orders", "default")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SimCluster]:
    with running(tmp_path) as env:
        env.start_canary()
        yield env


def test_steady_cluster_is_healthy(env: SimCluster) -> None:
    report = env.cluster.health.check(SCOPE, datetime.now(UTC))

    assert report.unhealthy == () and report.restarts == 0
    payments = next(w for w in report.workloads if w.workload == PAYMENTS)
    assert (payments.desired, payments.available, payments.pods) == (2, 2, 2)
    assert {w.workload.kind for w in report.workloads} == {"Deployment", "StatefulSet"}


def test_crashlooping_sidecars_show_up_with_restarts_since_the_baseline(env: SimCluster) -> None:
    since = datetime.fromtimestamp(env.sim.clock.now(), UTC)
    baseline = env.cluster.health.restart_baseline(SCOPE)
    env.sim.set_pod_fault("crashloop", CANARY)
    env.cluster.namespaces.relabel("payments", CANARY)
    env.cluster.restarts.restart(PAYMENTS, restart_stamp())

    def looping() -> HealthReport | None:
        report = env.cluster.health.check(SCOPE, since, baseline)
        payments = next(w for w in report.workloads if w.workload == PAYMENTS)
        return report if payments.crashlooping and payments.restarts > 0 else None

    report = wait_for(looping, "payments-api to crash-loop")

    assert [w.workload for w in report.unhealthy] == [PAYMENTS]
    payments = report.unhealthy[0]
    assert all(c.endswith("/istio-proxy") for c in payments.crashlooping)
    assert payments.not_ready and payments.restarts >= 1
    others = [w for w in report.workloads if w.workload != PAYMENTS]
    assert all(w.restarts == 0 and w.healthy for w in others)
