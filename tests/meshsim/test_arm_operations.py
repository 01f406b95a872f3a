"""Long-running operations of the simulated ARM through the real SDK's ARMPolling: failures,
resuming from a continuation token, faults the SDK retries, patch releases, the call record."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.polling import LROPoller
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.containerservice.models import ManagedCluster

from tests.meshsim.arm_env import NAME, RG, SLOW_OPERATION, SUB, arm_env, arm_error, raw

CANARY = ["asm-1-22", "asm-1-23"]


def start_canary(client: ContainerServiceClient) -> LROPoller[ManagedCluster]:
    mc = client.managed_clusters.get(RG, NAME)
    mc.service_mesh_profile.istio.revisions.append("asm-1-23")
    return client.managed_clusters.begin_create_or_update(RG, NAME, mc)


def test_failed_operation_raises_its_error_and_leaves_the_cluster_alone(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        env.arm.fail_next_operation("ReconcileIstioFailed", "istiod-asm-1-23 did not become ready")
        client = env.client()
        with pytest.raises(HttpResponseError) as caught:
            start_canary(client).result()
        shown = client.managed_clusters.get(RG, NAME)
        state = env.arm.cluster_state(SUB, RG, NAME)
    _, code, message = arm_error(caught.value)
    assert (code, message) == ("ReconcileIstioFailed", "istiod-asm-1-23 did not become ready")
    # Like AKS: the goal stays visible with provisioningState Failed; the cluster is unchanged.
    assert shown.provisioning_state == "Failed"
    assert shown.service_mesh_profile.istio.revisions == CANARY
    assert state["applied"] == ["asm-1-22"]
    assert env.revisions == []


def test_the_same_put_after_a_failure_runs_again_and_applies(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        status, _, _ = raw(env, "POST", "/_sim/arm/fail-next-operation", {"code": "Boom"})
        client = env.client()
        with pytest.raises(HttpResponseError):
            start_canary(client).result()
        mc = client.managed_clusters.get(RG, NAME)  # revisions are already [old, new]
        done = client.managed_clusters.begin_create_or_update(RG, NAME, mc).result()
    assert status == 201
    assert done.provisioning_state == "Succeeded"
    assert done.service_mesh_profile.istio.revisions == CANARY
    assert env.revisions == [CANARY]


def test_rollback_after_a_failed_start_is_allowed(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        env.arm.fail_next_operation()
        client = env.client()
        with pytest.raises(HttpResponseError):
            start_canary(client).result()
        mc = client.managed_clusters.get(RG, NAME)
        mc.service_mesh_profile.istio.revisions = ["asm-1-22"]
        done = client.managed_clusters.begin_create_or_update(RG, NAME, mc).result()
    assert done.provisioning_state == "Succeeded"
    assert env.revisions == []  # the cluster never left asm-1-22


def test_a_new_client_resumes_the_operation_from_a_continuation_token(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        token = start_canary(env.client()).continuation_token()
        # A restarted bot: a fresh client, only the token survived.
        # azure-core's documented resume call passes no parameters; the typed overloads want one.
        resumed = env.client().managed_clusters.begin_create_or_update(
            RG, NAME, None, continuation_token=token  # type: ignore[call-overload]
        )
        done = resumed.result()
        puts = env.arm.calls("PUT")
    assert done.provisioning_state == "Succeeded"
    assert done.service_mesh_profile.istio.revisions == CANARY
    assert env.revisions == [CANARY]
    assert len(puts) == 1


def test_429_with_retry_after_is_retried_by_the_sdk(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        env.arm.faults.add(verb="GET", path="*/managedClusters/*", status=429, retry_after=0.1)
        mc = env.client(retry_total=3).managed_clusters.get(RG, NAME)
        env.arm.faults.add(verb="GET", path="*/managedClusters/*", status=429, retry_after=0.1)
        with pytest.raises(HttpResponseError) as caught:
            env.client(retry_total=0).managed_clusters.get(RG, NAME)
        statuses = [c.status for c in env.arm.calls("GET")]
    assert mc.name == NAME
    assert statuses == [429, 200, 429]
    assert arm_error(caught.value)[:2] == (429, "TooManyRequests")


def test_patch_release_updates_the_catalogue_and_tells_the_clusters_running_it(
    tmp_path: Path,
) -> None:
    with arm_env(tmp_path) as env:
        env.arm.add_cluster(SUB, RG, "aks-other", revisions=["asm-1-24"])
        notified = env.arm.patch_release("asm-1-22", "1.22.6")
        status, body, _ = raw(env, "POST", "/_sim/arm/patch-release",
                              {"revision": "asm-1-22", "version": "1.22.7"})
        unknown, _, _ = raw(env, "POST", "/_sim/arm/patch-release",
                            {"revision": "asm-1-99", "version": "1.99.1"})
        info = env.arm.catalogue.get("asm-1-22")
    assert notified == [NAME]
    assert status == 200 and body["clusters"] == [NAME]
    assert unknown == 404
    assert env.patches == [("asm-1-22", "1.22.6"), ("asm-1-22", "1.22.7")]
    assert info is not None and info.version == "1.22.7"


def test_call_record_counts_one_put_per_revision_change(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        start_canary(env.client()).result()
        status, calls, _ = raw(env, "GET", "/_sim/arm/calls?method=PUT")
        everything, _, _ = raw(env, "GET", "/_sim/arm/calls")
        cleared, _, _ = raw(env, "DELETE", "/_sim/arm/calls")
        left = env.arm.calls()
    assert status == everything == cleared == 200
    assert [(c["method"], c["status"]) for c in calls] == [("PUT", 200)]
    assert calls[0]["path"].endswith(f"/managedClusters/{NAME}")
    assert isinstance(calls[0]["time"], float)
    assert left == []


def test_clusters_route_shows_goal_and_applied_revisions(tmp_path: Path) -> None:
    with arm_env(tmp_path, operation_seconds=SLOW_OPERATION) as env:
        poller = start_canary(env.client())
        status, during, _ = raw(env, "GET", "/_sim/arm/clusters")
        poller.result()
        _, after, _ = raw(env, "GET", "/_sim/arm/clusters")
    assert status == 200
    assert during[0]["revisions"] == CANARY and during[0]["applied"] == ["asm-1-22"]
    assert during[0]["provisioningState"] == "Updating" and during[0]["operationId"]
    assert after[0]["applied"] == CANARY and after[0]["operationId"] is None


def test_a_cluster_that_fails_to_apply_the_revisions_fails_the_operation(tmp_path: Path) -> None:
    def broken_cluster(revisions: list[str]) -> None:
        raise RuntimeError("no capacity for istiod-asm-1-23")

    with arm_env(tmp_path, on_revisions=broken_cluster) as env:
        with pytest.raises(HttpResponseError) as caught:
            start_canary(env.client()).result()
        state = env.arm.cluster_state(SUB, RG, NAME)
    _, code, message = arm_error(caught.value)
    assert code == "InternalOperationError" and "no capacity for istiod-asm-1-23" in message
    assert (state["provisioningState"], state["applied"]) == ("Failed", ["asm-1-22"])
