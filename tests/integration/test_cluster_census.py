"""The sidecar census on the bookinfo cluster: pods per revision, version, namespace and
workload, and patch drift after the add-on rolls a new patch version."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.kube.restarts import restart_stamp
from bot.upgrade.cluster_facts import WorkloadRef
from meshsim.kube.cluster import KubeSim
from meshsim.kube.resources import by_kind
from meshsim.kube.scenarios import large
from tests.integration.cluster_sim import CANARY, STABLE, SimCluster, running

IMAGE = "mcr.microsoft.com/oss/istio/proxyv2:{}-distroless"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SimCluster]:
    with running(tmp_path) as env:
        yield env


def test_census_counts_pods_per_revision_namespace_and_workload(env: SimCluster) -> None:
    census = env.cluster.census.take()

    version = census.injector_images[STABLE].rsplit(":", 1)[1].removesuffix("-distroless")
    assert census.by_revision == {STABLE: 21} and census.injected == 21
    assert census.by_version == {version: 21}
    assert census.by_namespace["default"] == {STABLE: 6}
    assert census.by_namespace["legacy"] == {"": 1}  # istio-injection=enabled: ignored on AKS
    assert census.by_namespace["kube-system"] == {"": 4}
    reviews = census.by_workload[WorkloadRef("Deployment", "default", "reviews-v2")]
    assert (reviews.pods, reviews.ready, reviews.revisions) == (1, 1, {STABLE: 1})
    assert census.by_workload[WorkloadRef("StatefulSet", "orders", "orders-db")].pods == 3
    assert census.by_workload[WorkloadRef("DaemonSet", "monitoring", "log-agent")].pods == 3
    assert census.drift == () and census.pages == 1
    assert WorkloadRef("Deployment", "frontend", "web") in census.workloads_on(STABLE)


def test_patch_bump_shows_drift_until_workloads_restart(env: SimCluster) -> None:
    old = env.cluster.census.take().by_version
    env.sim.bump_patch(STABLE, "1.22.99")

    census = env.cluster.census.take()

    assert census.injector_images[STABLE] == IMAGE.format("1.22.99")
    assert len(census.drift) == 21
    assert all(p.image != IMAGE.format("1.22.99") for p in census.drift)
    web = WorkloadRef("Deployment", "frontend", "web")
    assert web in census.drifted_workloads()

    report = env.cluster.restarts.run_wave([web], restart_stamp())

    after = env.cluster.census.take()
    assert report.done == (web,)
    assert len(after.drift) == 18 and web not in after.drifted_workloads()
    assert after.by_version == {next(iter(old)): 18, "1.22.99": 3}


def test_census_after_canary_restart_counts_both_revisions(env: SimCluster) -> None:
    env.start_canary()
    env.cluster.namespaces.relabel("payments", CANARY)
    env.cluster.restarts.run_wave([WorkloadRef("Deployment", "payments", "payments-api")],
                                  restart_stamp())

    census = env.cluster.census.take()

    assert census.by_revision == {STABLE: 19, CANARY: 2}
    assert census.by_namespace["payments"] == {CANARY: 2}
    assert set(census.injector_images) == {STABLE, CANARY}


def small_large(sim: KubeSim) -> None:
    large(sim, namespaces=120)


def test_census_streams_pages_of_500(tmp_path: Path) -> None:
    with running(tmp_path, small_large) as env:
        census = env.cluster.census.take()
        lists = env.sim.request_log.records(verb="list", resource="pods")

        pods = len(env.sim.store.list(by_kind("Pod")))

    assert census.pods == pods > 1200
    assert census.pages == len(lists) == -(-pods // 500)
