"""Whole upgrades through Slack on the `brownfield` cluster: finished Job pods and an evicted
pod, a Job pod whose classic sidecar keeps it running, a canary tag left from an earlier upgrade
that another team's namespace still uses, a `default` tag serving istio-injection=enabled,
crash-looping workloads without a sidecar, asm-1-27 (classic) to asm-1-29 (native sidecars),
Entra ID with local accounts disabled, and another tool changing the cluster on ARM meanwhile.
The cluster ends as the seed says, with everything else intact."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from bot.upgrade.kinds import AuditKind
from bot.upgrade.phases import Phase
from meshsim.kube.resources import by_kind
from meshsim.sim import RESOURCE_GROUP, SUBSCRIPTION
from tests.e2e.slack_harness import ALICE, BOB, CAROL, Harness, running_bot, texts, wait_until
from tests.integration.conftest_workflow import tags

CLUSTER, OLD, NEW = "aks-brownfield", "asm-1-27", "asm-1-29"
POD, NAMESPACE = by_kind("Pod"), by_kind("Namespace")


def _pods(h: Harness) -> list[dict[str, Any]]:
    return [p for p in h.sim.clusters[CLUSTER].store.list(POD)
            if not p["metadata"]["namespace"].startswith(("aks-istio", "kube-"))]


def _sidecar(pod: dict[str, Any]) -> tuple[str | None, str | None]:
    """(revision, "classic" | "native" | None) of a pod's istio-proxy."""
    status = (pod["metadata"].get("annotations") or {}).get("sidecar.istio.io/status")
    revision = json.loads(status).get("revision") if status else None
    spec = pod["spec"]
    if any(c["name"] == "istio-proxy" for c in spec.get("containers") or ()):
        return revision, "classic"
    if any(c["name"] == "istio-proxy" and c.get("restartPolicy") == "Always"
           for c in spec.get("initContainers") or ()):
        return revision, "native"
    return revision, None


def _phase(pod: dict[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase"))


def _kubectl(h: Harness, *args: str) -> None:
    """What the people the card names do by hand."""
    subprocess.run(["kubectl", "--kubeconfig", str(h.sim.kubeconfig), "--context", CLUSTER,
                    *args], check=True, capture_output=True, timeout=60)


def _arm(h: Harness) -> dict[str, Any]:
    return h.sim.arm.cluster_state(SUBSCRIPTION, RESOURCE_GROUP, CLUSTER)


def _start_and_roll(h: Harness) -> None:
    assert h.sim.describe()["clusters"][0]["entra"]  # Entra ID, local accounts disabled
    finished_before = {p["metadata"]["name"] for p in _pods(h) if _phase(p) != "Running"}
    assert len(finished_before) == 3  # two finished Job pods, one evicted pod
    h.command(ALICE, f"start {CLUSTER} --to {NEW}")
    h.wait_button("approve-start")
    # Another tool scales a pool and tags the cluster right after the bot reads it for start.
    h.sim.arm.change_cluster(SUBSCRIPTION, RESOURCE_GROUP, CLUSTER,
                             tags={"owner": "platform"}, after_next_get=True)
    h.click(BOB, "approve-start")
    h.wait_phase(Phase.CANARY_READY, timeout=60)
    assert tags(h.sim.clusters[CLUSTER])["prod-canary"] == OLD  # partner keeps its sidecars
    h.wait_button("approve-roll")
    h.click(CAROL, "approve-roll")
    h.wait_button("approve-complete", timeout=90)


def _assert_untouched_leftovers(h: Harness) -> None:
    pods = {p["metadata"]["name"]: p for p in _pods(h)}
    finished = [p for p in pods.values() if _phase(p) in ("Succeeded", "Failed")]
    assert {_phase(p) for p in finished} == {"Succeeded", "Failed"}
    assert all(_sidecar(p) == (OLD, "classic") for p in finished)  # never restarted
    unrelated = [p for p in pods.values() if p["metadata"]["name"].startswith(
        ("payments-exporter", "gatekeeper-audit"))]
    assert len(unrelated) == 2 and all(_sidecar(p) == (None, None) for p in unrelated)


def test_brownfield_complete_keeps_what_others_own_and_moves_the_rest(tmp_path: Path) -> None:
    with running_bot(tmp_path, scenario="brownfield") as h:
        _start_and_roll(h)
        running = [p for p in _pods(h) if _phase(p) == "Running" and _sidecar(p)[0]]
        moved = [p for p in running if p["metadata"]["namespace"] not in ("partner", "batch")]
        assert moved and all(_sidecar(p) == (NEW, "native") for p in moved)
        assert tags(h.sim.clusters[CLUSTER]) == {"prod-stable": NEW, "prod-canary": NEW,
                                                 "default": NEW}
        # Complete is refused while the running Job pod and partner's pods are on OLD.
        h.click(BOB, "approve-complete")
        refusal = h.wait_ephemeral(BOB, "Cannot complete yet")
        assert "reindex" in refusal and "partner-api" in refusal
        _kubectl(h, "delete", "job", "reindex", "-n", "batch")
        _kubectl(h, "-n", "partner", "rollout", "restart", "deployment/partner-api")
        _kubectl(h, "-n", "partner", "rollout", "status", "deployment/partner-api",
                 "--timeout=60s")
        h.click(BOB, "approve-complete")
        h.wait_phase(Phase.COMPLETED, timeout=60)
        state = _arm(h)
        assert state["revisions"] == [NEW] and state["applied"] == [NEW]
        assert state["tags"].get("owner") == "platform"  # the other tool's change survived
        accepted = [c for c in h.sim.arm.calls("PUT", "/managedClusters/")
                    if c.status is not None and c.status < 300]
        assert len(accepted) == 2  # one per transition, the 412 retried on top
        assert [c.status for c in h.sim.arm.calls("PUT", "/managedClusters/")].count(412) == 1
        assert tags(h.sim.clusters[CLUSTER]) == {"prod-stable": NEW, "prod-canary": NEW,
                                                 "default": NEW}
        _assert_untouched_leftovers(h)
        live = [p for p in _pods(h) if _phase(p) == "Running" and _sidecar(p)[0]]
        assert live and all(_sidecar(p)[0] == NEW for p in live)
        card = h.wait_card("Completed")
        assert "Left for you" in texts(card) and "partner" in texts(card)
        kept = [e for e in h.bot.services.store.audit_log(run_id=h.run().id)
                if e.kind is AuditKind.TAG_KEPT]
        assert [e.detail["namespaces"] for e in kept] == [["partner"]]
        # The bot reached the cluster with its own tokens for the AKS server app.
        assert h.sim.arm.entra.calls("6dae42f8-4368-4678-94ff-3960e28e3630")


def test_brownfield_rollback_returns_every_tag_and_pod_to_the_old_revision(
        tmp_path: Path) -> None:
    with running_bot(tmp_path, scenario="brownfield") as h:
        _start_and_roll(h)
        h.click(CAROL, "approve-rollback")
        h.wait_phase(Phase.ROLLED_BACK, timeout=90)
        state = _arm(h)
        assert state["revisions"] == [OLD] and state["applied"] == [OLD]
        assert state["tags"].get("owner") == "platform"
        assert tags(h.sim.clusters[CLUSTER]) == {"prod-stable": OLD, "prod-canary": OLD,
                                                 "default": OLD}
        live = [p for p in _pods(h) if _phase(p) == "Running" and _sidecar(p)[0]]
        assert live and all(_sidecar(p) == (OLD, "classic") for p in live)
        _assert_untouched_leftovers(h)
        wait_until(lambda: "Left for you" in texts(h.card()), 15, "the kept tag on the card")
