"""The pure rules behind bot/azure/mesh.py: revision targets as azure-cli computes them, judging a
change from the cluster alone after a crash, and the words for "no newer revision"."""

from __future__ import annotations

import pytest

from bot.upgrade.errors import GiveUp
from bot.upgrade.mesh_facts import (
    MeshState,
    OpState,
    Progress,
    RevisionProfile,
    complete_target,
    judge,
    no_upgrade_reason,
    rollback_target,
    start_target,
    status_from,
)


def state(*revisions: str, provisioning: str = "Succeeded", k8s: str = "1.30.7") -> MeshState:
    return MeshState("Istio", revisions, provisioning, k8s, "westeurope")


def profile(revision: str, *k8s: str) -> RevisionProfile:
    return RevisionProfile(revision, (), {"KubernetesOfficial": k8s})


def test_targets_sort_as_versions_not_strings() -> None:
    canary = state("asm-1-9", "asm-1-10")

    assert start_target(state("asm-1-9"), "asm-1-10") == ("asm-1-9", "asm-1-10")
    assert complete_target(canary) == ("asm-1-10",)
    assert rollback_target(canary) == ("asm-1-9",)


def test_start_repeated_with_the_same_canary_keeps_the_target() -> None:
    assert start_target(state("asm-1-22", "asm-1-23"), "asm-1-23") == ("asm-1-22", "asm-1-23")


@pytest.mark.parametrize(("current", "to", "words"), [
    (("asm-1-22", "asm-1-23"), "asm-1-24", "already in progress"),
    (("asm-1-22",), "asm-1-21", "not newer"),
    (("asm-1-22",), "asm-1-22", "not newer"),
])
def test_start_refuses_what_the_rp_would_refuse(current: tuple[str, ...], to: str,
                                                words: str) -> None:
    with pytest.raises(GiveUp, match=words):
        start_target(state(*current), to)


def test_complete_and_rollback_need_two_revisions() -> None:
    with pytest.raises(GiveUp):
        complete_target(state("asm-1-22"))
    with pytest.raises(GiveUp):
        rollback_target(MeshState("Disabled", (), "Succeeded", "1.30", "westeurope"))


@pytest.mark.parametrize(("revisions", "provisioning", "progress"), [
    (("asm-1-22", "asm-1-23"), "Succeeded", Progress.DONE),
    (("asm-1-22", "asm-1-23"), "Updating", Progress.RUNNING),
    (("asm-1-22", "asm-1-23"), "Failed", Progress.FAILED),
    (("asm-1-22", "asm-1-23"), "Canceled", Progress.FAILED),
    (("asm-1-22",), "Succeeded", Progress.NOT_SENT),
    (("asm-1-22",), "Updating", Progress.NOT_SENT),  # someone else's operation
])
def test_judge_from_the_cluster_alone(revisions: tuple[str, ...], provisioning: str,
                                      progress: Progress) -> None:
    observed = judge(state(*revisions, provisioning=provisioning), ("asm-1-23", "asm-1-22"))

    assert observed.progress is progress


def test_a_change_that_never_landed_reads_as_failed_status_with_why() -> None:
    status = status_from(judge(state("asm-1-22"), ("asm-1-22", "asm-1-23")))

    assert status.state is OpState.FAILED
    assert "runs asm-1-22, not asm-1-22, asm-1-23" in status.reason


def test_reasons_name_the_case() -> None:
    offered = [profile("asm-1-22", "1.27", "1.30"), profile("asm-1-23", "1.27", "1.32")]

    assert "newest revision" in no_upgrade_reason(state("asm-1-23"), offered)
    assert "no longer supported" in no_upgrade_reason(state("asm-1-21", k8s="1.26.3"), offered)
    assert "must be upgraded first" in no_upgrade_reason(
        state("asm-1-22", k8s="1.26.3"), [profile("asm-1-22", "1.26"), profile("asm-1-23", "1.27")])
