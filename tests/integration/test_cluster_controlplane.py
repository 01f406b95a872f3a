"""Control plane readiness per revision, the canary's HPAs against the stable's, and the shared
MeshConfig copied before start and deleted after complete."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from tests.integration.cluster_sim import CANARY, STABLE, SimCluster, running, wait_for

SYSTEM, INGRESS = "aks-istio-system", "aks-istio-ingress"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SimCluster]:
    with running(tmp_path) as env:
        yield env


def test_both_control_planes_ready_during_the_canary(env: SimCluster) -> None:
    assert env.cluster.control_plane.status(CANARY).istiod.message == "no istiod pods"

    env.start_canary()

    for revision in (STABLE, CANARY):
        plane = env.cluster.control_plane.status(revision)
        assert plane.ready and plane.istiod.name == f"istiod-{revision}"
        assert plane.istiod.ready == plane.istiod.desired >= 1
        assert [g.name for g in plane.gateways] == [
            f"aks-istio-ingressgateway-{mode}-{revision}" for mode in ("external", "internal")]


def test_canary_not_ready_while_its_istiod_pods_are_not(tmp_path: Path) -> None:
    # At 1x the kubelet starts a new pod 1.5 to 2.5 real seconds after it is created: far
    # longer than the status read below takes, however loaded the machine.
    with running(tmp_path, speed=1.0) as env:
        env.sim.set_revisions([STABLE, CANARY])

        plane = env.cluster.control_plane.status(CANARY)

        assert not plane.ready and not plane.istiod.is_ready
        assert plane.istiod.ready < plane.istiod.desired
        wait_for(lambda: env.cluster.control_plane.status(CANARY).ready, "canary ready")


def test_hpas_side_by_side_and_the_stable_spec_wins(env: SimCluster) -> None:
    env.start_canary()
    pairs = env.cluster.hpas.compare(STABLE, CANARY)
    assert {p.component for p in pairs} == {
        "istiod", "aks-istio-ingressgateway-external", "aks-istio-ingressgateway-internal"}
    assert all(p.stable and p.canary and p.differences == () for p in pairs)

    env.sim.stop()  # hold the add-on's reconciler so the edit stays visible
    autoscaling = env.cluster.hpas.autoscaling
    autoscaling.patch_namespaced_horizontal_pod_autoscaler(
        f"istiod-{CANARY}", SYSTEM, {"spec": {"maxReplicas": 9}},
        _content_type="application/merge-patch+json")
    istiod = next(p for p in env.cluster.hpas.compare(STABLE, CANARY) if p.component == "istiod")
    assert istiod.canary is not None and istiod.canary.max_replicas == 9
    assert len(istiod.differences) == 1
    assert istiod.differences[0].startswith("maxReplicas: stable ")
    assert f"stable revision's ({STABLE})" in istiod.differences[0]

    env.sim.start_controllers(env.simloop)
    wait_for(lambda: all(p.differences == () for p in env.cluster.hpas.compare(STABLE, CANARY)),
             "AKS to revert the canary HPA")


def test_shared_meshconfig_copy_is_idempotent_and_delete_too(env: SimCluster) -> None:
    core = env.cluster.control_plane.core
    first = env.cluster.control_plane.copy_shared_config(STABLE, CANARY)
    second = env.cluster.control_plane.copy_shared_config(STABLE, CANARY)

    assert (first.outcome, second.outcome) == ("created", "unchanged")
    assert first.target == f"istio-shared-configmap-{CANARY}"
    old = core.read_namespaced_config_map(f"istio-shared-configmap-{STABLE}", SYSTEM)
    new = core.read_namespaced_config_map(f"istio-shared-configmap-{CANARY}", SYSTEM)
    assert new.data == old.data
    assert env.requests(verb="create", resource="configmaps") == 1

    assert env.cluster.control_plane.delete_shared_config(STABLE) is True
    assert env.cluster.control_plane.delete_shared_config(STABLE) is False
    assert env.cluster.control_plane.copy_shared_config(STABLE, CANARY).outcome == "no-source"


def test_copy_keeps_a_target_someone_already_edited(env: SimCluster) -> None:
    env.cluster.control_plane.core.create_namespaced_config_map(SYSTEM, cast(Any, {
        "metadata": {"name": f"istio-shared-configmap-{CANARY}"}, "data": {"mesh": "{}\n"}}))

    result = env.cluster.control_plane.copy_shared_config(STABLE, CANARY)

    assert result.outcome == "differs"
    kept = env.cluster.control_plane.core.read_namespaced_config_map(
        f"istio-shared-configmap-{CANARY}", SYSTEM)
    assert kept.data == {"mesh": "{}\n"}
