"""bot/azure/mesh.py turns what ARM answers into RetryLater or GiveUp, keeping the RP's own words:
409 names the operation holding the cluster, 429/5xx carry a delay, 400 the RP's reason,
401/403 the permission missing, 404 the names to check. Faults come from the simulator's rules;
most clients use retry_total=0 so the SDK does not absorb them first."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.azure.errors import LIST_USER_CREDENTIALS, READ_CLUSTER, READ_UPGRADES, WRITE_CLUSTER
from bot.upgrade.errors import GiveUp, RetryLater
from bot.upgrade.mesh_facts import OpState
from tests.integration.aks_harness import Arm, serve_arm, start

CLUSTER_PATH = "*/managedClusters/aks1"


@pytest.fixture
def arm(tmp_path: Path) -> Iterator[Arm]:
    with serve_arm(tmp_path) as running:
        running.cluster("aks1", revisions=["asm-1-22"])
        yield running


def test_put_during_an_operation_retries_later_naming_that_operation(tmp_path: Path) -> None:
    with serve_arm(tmp_path, speed=10.0) as arm:  # the first operation runs for 3 s
        arm.cluster("aks1", revisions=["asm-1-22"])
        mesh = arm.mesh(retry_total=3)  # a 409 without Retry-After is not retried by the SDK
        start(mesh, "asm-1-23")
        with pytest.raises(RetryLater) as caught:
            mesh.begin_set_revisions(("asm-1-22",))
        puts = [c.status for c in arm.sim.calls("PUT")]

    assert puts == [200, 409]
    assert re.search(r"in progress update managed cluster operation \(operation ID: [0-9a-f-]+\)",
                     caught.value.message)
    assert caught.value.delay_seconds == 30.0


def test_throttled_read_retries_after_the_servers_retry_after(arm: Arm) -> None:
    arm.sim.faults.add(verb="GET", path=CLUSTER_PATH, status=429, retry_after=7)

    with pytest.raises(RetryLater) as caught:
        arm.mesh().mesh_state()

    assert caught.value.delay_seconds == 7.0
    assert "throttled" in caught.value.message


def test_throttled_put_is_not_retried_by_the_sdk_even_on_a_retrying_client(arm: Arm) -> None:
    arm.sim.faults.add(verb="PUT", path=CLUSTER_PATH, status=429, retry_after=5)

    with pytest.raises(RetryLater) as caught:
        start(arm.mesh(retry_total=3), "asm-1-23")

    assert caught.value.delay_seconds == 5.0
    assert arm.puts() == 1


def test_long_retry_after_on_a_read_is_left_to_the_workflow_not_slept_in_the_sdk(
        arm: Arm) -> None:
    arm.sim.faults.add(verb="GET", path=CLUSTER_PATH, status=429, retry_after=60)
    began = time.monotonic()

    with pytest.raises(RetryLater) as caught:
        arm.mesh(retry_total=3).mesh_state()

    # The SDK would have slept the full 60 s; half of that is far above any CI's slowness.
    assert caught.value.delay_seconds == 60.0 and time.monotonic() - began < 30
    assert len(arm.sim.calls("GET", "/managedClusters/aks1")) == 1


def test_short_retry_after_on_a_read_is_absorbed_by_the_sdk(arm: Arm) -> None:
    arm.sim.faults.add(verb="GET", path=CLUSTER_PATH, status=429, retry_after=1)

    state = arm.mesh(retry_total=3).mesh_state()

    assert state.revisions == ("asm-1-22",)
    assert [c.status for c in arm.sim.calls("GET", "/managedClusters/aks1")] == [429, 200]


def test_server_error_retries_later_with_the_default_backoff(arm: Arm) -> None:
    arm.sim.faults.add(verb="GET", path=CLUSTER_PATH, status=500)

    with pytest.raises(RetryLater) as caught:
        arm.mesh().mesh_state()

    assert caught.value.delay_seconds == 15.0
    assert "HTTP 500" in caught.value.message and "internal server error" in caught.value.message


def test_one_server_error_on_a_read_is_absorbed_by_the_sdk_retry(arm: Arm) -> None:
    arm.sim.faults.add(verb="GET", path=CLUSTER_PATH, status=503)

    state = arm.mesh(retry_total=3).mesh_state()

    assert state.revisions == ("asm-1-22",)
    assert [c.status for c in arm.sim.calls("GET", "/managedClusters/aks1")] == [503, 200]


def test_server_error_on_the_operation_status_retries_later(arm: Arm) -> None:
    mesh = arm.mesh()
    op = start(mesh, "asm-1-23")
    arm.sim.faults.add(verb="GET", path="*/operations/*", status=502, retry_after=4)

    with pytest.raises(RetryLater) as caught:
        mesh.operation_status(op)

    assert caught.value.delay_seconds == 4.0


def test_operation_arm_no_longer_knows_is_judged_from_the_cluster(arm: Arm) -> None:
    mesh = arm.mesh()
    op = start(mesh, "asm-1-23")
    arm.sim.faults.add(verb="GET", path="*/operations/*", status=404, count=2)

    status = mesh.operation_status(op)
    with pytest.raises(GiveUp, match="no longer knows this operation"):
        assert op.token is not None
        mesh.operation_status(op.token)

    assert status.state in (OpState.IN_PROGRESS, OpState.SUCCEEDED)
    # start's two (the state for the target, the PUT's read) + observe's
    assert len(arm.sim.calls("GET", "/managedClusters/aks1")) == 3


def test_dropped_connection_retries_later(arm: Arm) -> None:
    arm.sim.faults.add(verb="GET", path=CLUSTER_PATH, drop=True)

    with pytest.raises(RetryLater) as caught:
        arm.mesh().mesh_state()

    assert "Could not reach ARM" in caught.value.message


def test_unknown_revision_gives_up_with_the_rps_reason(arm: Arm) -> None:
    with pytest.raises(GiveUp) as caught:
        arm.mesh().begin_set_revisions(("asm-1-22", "asm-1-99"))

    assert ("Requested change in revisions is not allowed. Reason: Revision asm-1-99 is not "
            "supported by the service mesh add-on.") in caught.value.message
    assert "get-upgrades" in caught.value.hint


def test_error_body_without_the_error_wrapper_is_read_too(arm: Arm) -> None:
    bare = {"code": "BadRequest", "message": "Istio based Azure service mesh is incompatible"}
    arm.sim.faults.add(verb="PUT", path=CLUSTER_PATH, status=400, body=bare)

    with pytest.raises(GiveUp, match="Istio based Azure service mesh is incompatible"):
        start(arm.mesh(), "asm-1-23")


def test_refused_token_gives_up_naming_the_permission(arm: Arm) -> None:
    with pytest.raises(GiveUp) as caught:  # a real token, from a tenant ARM does not trust
        arm.mesh(credential=arm.foreign_credential()).mesh_state()

    assert "HTTP 401" in caught.value.message and "token is invalid" in caught.value.message
    assert READ_CLUSTER in caught.value.hint


def test_unauthorized_put_names_the_write_permission(arm: Arm) -> None:
    arm.sim.faults.add(verb="PUT", path=CLUSTER_PATH, status=401)

    with pytest.raises(GiveUp) as caught:
        start(arm.mesh(), "asm-1-23")

    assert WRITE_CLUSTER in caught.value.message and WRITE_CLUSTER in caught.value.hint


def test_forbidden_credentials_name_the_action_arm_reports(arm: Arm) -> None:
    denied = {"error": {"code": "AuthorizationFailed", "message": (
        "The client 'bot' with object id '1234' does not have authorization to perform action "
        f"'{LIST_USER_CREDENTIALS}' over scope '/subscriptions/x/resourceGroups/rg-mesh' or "
        "the scope is invalid.")}}
    arm.sim.faults.add(verb="POST", path="*/listClusterUserCredential", status=403, body=denied)

    with pytest.raises(GiveUp) as caught:
        arm.mesh().user_kubeconfig()

    assert f"Grant the bot's identity `{LIST_USER_CREDENTIALS}`" in caught.value.hint


def test_forbidden_upgrade_profiles_name_their_read_permission(arm: Arm) -> None:
    arm.sim.faults.add(verb="GET", path="*/meshUpgradeProfiles", status=403)

    with pytest.raises(GiveUp) as caught:
        arm.mesh().available_upgrades()

    assert READ_UPGRADES in caught.value.hint


def test_missing_cluster_gives_up_saying_what_to_check(arm: Arm) -> None:
    with pytest.raises(GiveUp) as caught:
        arm.mesh("no-such-cluster").mesh_state()

    assert caught.value.message.startswith("Cluster not found: rg-mesh/no-such-cluster")
    assert "subscription, resource group and cluster name" in caught.value.hint
