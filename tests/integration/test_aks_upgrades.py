"""bot/azure/mesh.py through the real azure-mgmt-containerservice client against the simulated ARM:
versions and upgrades, start/complete/rollback without waiting on the LRO, idempotent PUTs,
resuming after a crash from a continuation token or from the cluster alone, kubeconfig."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.azure.mesh import AksMesh
from bot.upgrade.errors import GiveUp
from bot.upgrade.mesh_facts import Operation, OpState, Progress, complete_target
from meshsim.catalogue import Catalogue, RevisionInfo
from tests.integration.aks_harness import (
    RG,
    Arm,
    complete,
    operation_ended,
    rollback,
    serve_arm,
    start,
    wait_for,
)


@pytest.fixture
def arm(tmp_path: Path) -> Iterator[Arm]:
    with serve_arm(tmp_path) as running:
        running.cluster("aks1", kubernetes_version="1.30.7", revisions=["asm-1-22"])
        yield running


def nine_and_ten() -> Catalogue:
    """asm-1-9 -> asm-1-10: sorted as strings, asm-1-10 would come first."""
    k8s = ("1.29", "1.30")
    return Catalogue({
        "asm-1-9": RevisionInfo("asm-1-9", "1.9.8", k8s, ("asm-1-10",)),
        "asm-1-10": RevisionInfo("asm-1-10", "1.10.6", k8s),
    })


def test_mesh_state_reads_the_revisions_cluster_version_and_ingress(arm: Arm) -> None:
    state = arm.mesh().mesh_state()

    assert state.revisions == ("asm-1-22",)
    assert (state.mode, state.provisioning_state) == ("Istio", "Succeeded")
    assert (state.kubernetes_version, state.location) == ("1.30.7", "westeurope")
    assert state.ingress_modes == ("External", "Internal")


def test_available_upgrades_lists_newer_revisions_with_their_kubernetes_versions(arm: Arm) -> None:
    options = arm.mesh().available_upgrades()

    assert options.current == "asm-1-22"
    assert options.upgrades == ("asm-1-23", "asm-1-24")
    assert options.compatible_with["asm-1-23"] == ("1.27", "1.28", "1.29", "1.30", "1.31", "1.32")
    assert "1.33" in options.compatible_with["asm-1-24"]
    assert (options.reason, options.supported) == ("", True)


def test_unsupported_revision_on_old_kubernetes_says_to_upgrade_the_cluster_first(
        arm: Arm) -> None:
    arm.cluster("old", kubernetes_version="1.26.3", revisions=["asm-1-21"])

    options = arm.mesh("old").available_upgrades()

    assert options.upgrades == () and options.supported is False
    assert "asm-1-21 is no longer supported" in options.reason
    assert "lowest supported revision, asm-1-22" in options.reason
    assert "upgrade the cluster's Kubernetes version first" in options.reason


def test_next_revision_needing_newer_kubernetes_says_kubernetes_first(arm: Arm) -> None:
    arm.cluster("k127", kubernetes_version="1.27.9", revisions=["asm-1-23"])

    options = arm.mesh("k127").available_upgrades()

    assert options.upgrades == ()
    assert options.reason.startswith("The cluster's Kubernetes version must be upgraded first")
    assert "asm-1-24, needs Kubernetes 1.28 to 1.33 and the cluster runs 1.27" in options.reason


def test_newest_revision_says_nothing_is_newer(arm: Arm) -> None:
    arm.cluster("newest", kubernetes_version="1.33.2", revisions=["asm-1-24"])

    options = arm.mesh("newest").available_upgrades()

    assert options.upgrades == ()
    assert options.reason == "asm-1-24 is the newest revision AKS offers in westeurope."


def test_upgrades_during_a_canary_say_an_upgrade_is_in_progress(arm: Arm) -> None:
    arm.cluster("canary", revisions=["asm-1-22", "asm-1-23"])

    options = arm.mesh("canary").available_upgrades()

    assert options.in_progress and options.upgrades == ()
    assert "An upgrade is already in progress (asm-1-22 and asm-1-23" in options.reason


def test_revision_profiles_sort_as_versions(tmp_path: Path) -> None:
    with serve_arm(tmp_path, catalogue=nine_and_ten()) as arm:
        arm.cluster("aks1", kubernetes_version="1.30.1", revisions=["asm-1-9"])
        profiles = arm.mesh().revision_profiles()

    assert [p.revision for p in profiles] == ["asm-1-9", "asm-1-10"]
    assert profiles[0].upgrades == ("asm-1-10",)
    assert profiles[0].kubernetes_versions == ("1.29", "1.30")


def test_start_returns_a_token_at_once_and_the_operation_later_succeeds(tmp_path: Path) -> None:
    with serve_arm(tmp_path, speed=10.0) as arm:  # an operation takes 3 s of real time
        arm.cluster("aks1", revisions=["asm-1-22"])
        mesh = arm.mesh()
        op = start(mesh, "asm-1-23")
        # What ARM holds the moment start() returns: had it waited on the LRO, Succeeded.
        when_returned = arm.state()
        first = mesh.operation_status(op)
        final = wait_for(mesh, op)
        after = mesh.mesh_state()

    assert op.sent and op.target == ("asm-1-22", "asm-1-23") and op.sent_at is not None
    assert (when_returned["provisioningState"], when_returned["applied"]) == (
        "Updating", ["asm-1-22"])
    assert first.state is OpState.IN_PROGRESS
    assert final.state is OpState.SUCCEEDED
    assert (after.revisions, after.provisioning_state) == (("asm-1-22", "asm-1-23"), "Succeeded")
    assert after.ingress_modes == ("External", "Internal")  # the rest of the cluster PUT back


def test_status_checks_make_one_request_each_and_nothing_polls_in_between(arm: Arm) -> None:
    mesh = arm.mesh()
    op = start(mesh, "asm-1-23")
    ended = operation_ended(arm)  # over in ARM: no poller thread may have asked meanwhile
    polled_before = len(arm.sim.calls("GET", "/operations/"))
    status = mesh.operation_status(op)

    assert ended["provisioningState"] == "Succeeded" and polled_before == 0
    assert len(arm.sim.calls("GET", "/operations/")) == 1
    assert status.state is OpState.SUCCEEDED


def test_complete_keeps_the_highest_revision_sorted_as_versions(tmp_path: Path) -> None:
    with serve_arm(tmp_path, catalogue=nine_and_ten()) as arm:
        arm.cluster("aks1", kubernetes_version="1.30.1", revisions=["asm-1-9"])
        mesh = arm.mesh()
        assert wait_for(mesh, start(mesh, "asm-1-10")).state is OpState.SUCCEEDED
        assert mesh.mesh_state().revisions == ("asm-1-9", "asm-1-10")
        done = wait_for(mesh, complete(mesh))
        state, applied = mesh.mesh_state(), arm.state()["applied"]

    assert done.state is OpState.SUCCEEDED
    assert state.revisions == ("asm-1-10",) and applied == ["asm-1-10"]


def test_rollback_keeps_the_lowest_revision(arm: Arm) -> None:
    arm.cluster("canary", revisions=["asm-1-22", "asm-1-23"])
    mesh = arm.mesh("canary")

    op = rollback(mesh)

    assert op.target == ("asm-1-22",)
    assert wait_for(mesh, op).state is OpState.SUCCEEDED
    assert mesh.mesh_state().revisions == ("asm-1-22",)


def test_complete_without_a_canary_gives_up_like_azure_cli_and_sends_nothing(arm: Arm) -> None:
    with pytest.raises(GiveUp) as caught:
        complete(arm.mesh())

    assert "Azure Service Mesh upgrade is not in progress." in caught.value.hint
    assert arm.puts() == 0


def test_start_during_a_canary_gives_up_and_sends_nothing(arm: Arm) -> None:
    arm.cluster("canary", revisions=["asm-1-22", "asm-1-23"])

    with pytest.raises(GiveUp, match="already in progress"):
        start(arm.mesh("canary"), "asm-1-24")
    assert arm.puts() == 0


def test_setting_the_same_revisions_again_sends_no_second_put(arm: Arm) -> None:
    mesh = arm.mesh()
    first = mesh.begin_set_revisions(("asm-1-23", "asm-1-22"))
    while_updating = mesh.begin_set_revisions(("asm-1-22", "asm-1-23"))
    wait_for(mesh, first)
    after_success = start(mesh, "asm-1-23")

    assert first.sent and arm.puts() == 1
    assert not while_updating.sent and "Updating" in while_updating.note
    assert not after_success.sent and "Succeeded" in after_success.note


def test_a_new_adapter_and_client_resume_from_the_continuation_token_alone(arm: Arm) -> None:
    token = start(arm.mesh(), "asm-1-23").token
    assert token is not None

    status = wait_for(AksMesh(arm.client(), RG, "aks1"), token)  # "after the crash"

    assert status.state is OpState.SUCCEEDED
    assert arm.puts() == 1


def test_observe_tells_whether_a_put_whose_token_was_lost_landed(arm: Arm) -> None:
    target = ("asm-1-22", "asm-1-23")
    before = arm.mesh().observe(target)
    arm.mesh().begin_set_revisions(target)  # the process "dies" before recording the token
    fresh = arm.mesh()
    running = fresh.observe(target)
    final = wait_for(fresh, Operation(target))

    assert before.progress is Progress.NOT_SENT
    assert running.progress is Progress.RUNNING
    assert final.state is OpState.SUCCEEDED and fresh.observe(target).progress is Progress.DONE
    assert arm.puts() == 1


def test_a_failed_operation_reports_the_rp_reason_and_may_be_sent_again(arm: Arm) -> None:
    arm.sim.fail_next_operation("ReconcileIstioFailed", "istiod-asm-1-23 did not become ready")
    mesh = arm.mesh()
    op = start(mesh, "asm-1-23")

    status = wait_for(mesh, op)
    observed = mesh.observe(op.target)
    retried = mesh.begin_set_revisions(op.target)

    assert status.state is OpState.FAILED and status.status == "Failed"
    assert status.reason == "ReconcileIstioFailed: istiod-asm-1-23 did not become ready"
    assert observed.progress is Progress.FAILED
    assert retried.sent and arm.puts() == 2
    assert wait_for(mesh, retried).state is OpState.SUCCEEDED


def test_targets_are_computed_like_azure_cli_before_anything_is_sent(arm: Arm) -> None:
    arm.cluster("canary", revisions=["asm-1-23", "asm-1-22"])

    state = arm.mesh("canary").mesh_state()

    assert state.revisions == ("asm-1-22", "asm-1-23")
    assert complete_target(state) == ("asm-1-23",)


def test_user_kubeconfig_is_the_clusters_decoded_kubeconfig(arm: Arm) -> None:
    arm.cluster("withkube", kube_server_url="https://127.0.0.1:16443")

    config = yaml.safe_load(arm.mesh("withkube").user_kubeconfig())

    assert config["current-context"] == "withkube"
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:16443"
    assert config["users"][0]["user"]["token"]
