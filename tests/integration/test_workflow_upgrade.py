"""Whole runs of the workflow against the simulated ARM and cluster (bookinfo scenario):
start -> complete, start -> rollback, the same without tags, the patch flow, and the gate."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.upgrade.errors import GateRefused, NotAllowed, StaleVersion
from bot.upgrade.phases import Action, Phase
from bot.workflow.steps import Wait
from meshsim.kube.resources import ResourceType
from meshsim.kube.scenarios import deployment
from tests.integration.conftest_workflow import (
    APPROVER,
    CLUSTER,
    NAMESPACE,
    NEW,
    OLD,
    Env,
    assert_only_on,
    namespace_labels,
    pod_sidecars,
    tags,
    workflow_env,
)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with workflow_env(tmp_path) as e:
        yield e


def test_plan_names_target_tags_namespaces_and_waves(env: Env) -> None:
    plan = env.workflow.plan(CLUSTER)
    assert (plan.current, plan.target) == (OLD, NEW)
    assert plan.shared_config == (f"istio-shared-configmap-{OLD}", f"istio-shared-configmap-{NEW}")
    via = {m.namespace: (m.via, m.to) for m in plan.moves}
    assert via["frontend"] == ("tag", "prod-stable")
    assert via["default"] == ("relabel", "prod-stable")
    assert "legacy" not in via and "kube-system" not in via
    workloads = {w.name for wave in plan.waves for w in wave}
    assert {"productpage-v1", "orders-db", "log-agent", "web"} <= workloads
    assert "legacy-app" not in workloads and "coredns" not in workloads


def test_start_roll_complete_leaves_everything_on_the_new_revision(env: Env) -> None:
    run = env.start()
    assert env.drive(run.id).actions == (Action.START,)
    result = env.through(run.id, Action.START, Action.ROLL)
    assert result.actions == (Action.COMPLETE, Action.ROLLBACK, Action.RESTART)
    report = env.workflow.check(run.id)
    assert report.complete_enabled, report.complete_blockers
    assert [p.revision for p in report.planes] == [OLD, NEW] and all(p.ready for p in report.planes)
    assert report.census.by_revision.get(OLD) is None and report.hpas
    result = env.through(run.id, Action.COMPLETE)
    assert result.wait is Wait.DONE and result.phase == Phase.COMPLETED
    assert_only_on(env, keep=NEW, gone=OLD)
    assert tags(env.kube) == {"prod-stable": NEW}
    assert len(env.accepted_puts()) == 2  # [old, new], then [new]
    audit = [e.what for e in env.store.audit_log(run_id=run.id)]
    assert any(w.startswith("ARM PUT") for w in audit)
    assert "istioctl tag remove prod-canary" in audit
    puts = [e for e in env.store.audit_log(run_id=run.id) if e.what.startswith("ARM PUT")]
    assert all(e.detail["approved_by"] == [APPROVER] for e in puts)


def test_rollback_from_canary_brings_everything_back_to_the_old_revision(env: Env) -> None:
    run = env.start()
    result = env.through(run.id, Action.START, Action.ROLL, Action.ROLLBACK)
    assert result.phase == Phase.ROLLED_BACK
    assert_only_on(env, keep=OLD, gone=NEW)
    assert tags(env.kube) == {"prod-stable": OLD}


def test_without_tags_namespaces_are_relabelled_and_the_upgrade_completes(tmp_path: Path) -> None:
    with workflow_env(tmp_path, tags={"use_tags": False}) as env:
        run = env.start()
        env.through(run.id, Action.START)
        assert "prod-canary" not in tags(env.kube)
        result = env.through(run.id, Action.ROLL, Action.COMPLETE)
        assert result.phase == Phase.COMPLETED
        assert_only_on(env, keep=NEW, gone=OLD)
        labels = namespace_labels(env.kube)
        assert labels["default"] == labels["payments"] == NEW
        assert labels["frontend"] == "prod-stable"  # follows the tag the cluster already had


def test_without_tags_rollback_relabels_namespaces_back(tmp_path: Path) -> None:
    with workflow_env(tmp_path, tags={"use_tags": False}) as env:
        run = env.start()
        result = env.through(run.id, Action.START, Action.ROLL, Action.ROLLBACK)
        assert result.phase == Phase.ROLLED_BACK
        assert_only_on(env, keep=OLD, gone=NEW)
        assert namespace_labels(env.kube)["default"] == OLD


def test_complete_is_refused_while_a_namespace_and_pods_stay_on_the_old_revision(env: Env
                                                                                   ) -> None:
    run = env.start()
    env.through(run.id, Action.START)
    # Complete is not even possible before rolling; then a namespace is put back by hand.
    with pytest.raises(NotAllowed):
        env.approve(run.id, Action.COMPLETE)
    env.through(run.id, Action.ROLL)
    env.kube.store.update(*_relabelled(env, "payments", OLD))
    env.kube.create(_deployment("payments", "late-api"))
    env.kube.settle()
    with pytest.raises(GateRefused) as refused:
        env.approve(run.id, Action.COMPLETE)
    left = " ".join(refused.value.remaining)
    assert "namespace payments" in left and "late-api" in left
    assert env.store.get_run(run.id).phase is Phase.AWAITING_DECISION
    # The restart action moves the stragglers, after which complete goes through.
    env.kube.store.update(*_relabelled(env, "payments", "prod-stable"))
    result = env.through(run.id, Action.RESTART, Action.COMPLETE)
    assert result.phase == Phase.COMPLETED
    assert_only_on(env, keep=NEW, gone=OLD)


def test_a_stale_click_changes_nothing(env: Env) -> None:
    run = env.start()
    env.workflow.approve(run.id, Action.START, APPROVER, run.version)
    with pytest.raises(StaleVersion):
        env.workflow.approve(run.id, Action.START, APPROVER, run.version)
    assert env.store.get_run(run.id).phase is Phase.STARTING


def test_patch_flow_restarts_outdated_sidecars_onto_the_new_patch(env: Env) -> None:
    env.sim.arm.patch_release(OLD, "1.22.6")
    plan = env.workflow.patch_plan(CLUSTER)
    assert plan.workload_count() >= 8
    run = env.workflow.request(CLUSTER, Action.RESTART, "U0REQUESTER")
    assert run.phase is Phase.PATCH_PLANNED
    result = env.through(run.id, Action.RESTART)
    assert result.phase == Phase.PATCH_DONE
    images = {s[3] for s in pod_sidecars(env.kube)}
    assert images == {"mcr.microsoft.com/oss/istio/proxyv2:1.22.6-distroless"}


def _relabelled(env: Env, namespace: str, value: str) -> tuple[ResourceType, dict[str, Any]]:
    ns = copy.deepcopy(env.kube.store.get(NAMESPACE, "", namespace))
    ns["metadata"]["labels"]["istio.io/rev"] = value
    return NAMESPACE, ns


def _deployment(namespace: str, name: str) -> dict[str, Any]:
    return deployment(namespace, name, f"contoso.azurecr.io/{name}:1.0.0", 1)
