"""The patch flow through the simulated Slack, and the daily drift job against the simulators.

AKS rolls a new patch of asm-1-22 (the simulated ARM's patch release): new pods get
proxyv2:1.22.6, running ones keep 1.22.5. The drift job posts once when pods are outdated and
never when none are; `/mesh-upgrade patch` shows the drift, an approver restarts the outdated
workloads, and the census then finds every pod on the new proxy.
"""

from __future__ import annotations

from pathlib import Path

from bot.upgrade.phases import Phase
from handlers.jobs import check_patch_drift
from tests.e2e.slack_harness import ALICE, BOB, Harness, running_bot, texts, wait_until
from tests.integration.conftest_workflow import OLD, injector_image, pod_sidecars

PATCHED = "proxyv2:1.22.6-distroless"


def _drift_posts(h: Harness) -> list[str]:
    return [texts(m) for m in h.messages()["messages"]
            if "Outdated sidecars on aks-sandbox" in texts(m)]


def test_drift_job_posts_only_with_drift_and_patch_restarts_every_outdated_workload(
        tmp_path: Path) -> None:
    with running_bot(tmp_path) as h:
        kube = h.sim.clusters["aks-sandbox"]
        check_patch_drift(h.bot.services, "aks-sandbox")
        assert h.messages()["messages"] == []

        assert h.sim.arm.patch_release(OLD, "1.22.6") == ["aks-sandbox"]
        assert injector_image(kube, OLD).endswith(PATCHED)
        outdated = {s[0] for s in pod_sidecars(kube) if not (s[3] or "").endswith(PATCHED)}
        assert outdated
        check_patch_drift(h.bot.services, "aks-sandbox")
        posts = _drift_posts(h)
        assert len(posts) == 1 and "/mesh-upgrade patch aks-sandbox" in posts[0]

        h.command(ALICE, "patch aks-sandbox")
        h.wait_card("Mesh patch · aks-sandbox")
        drift = wait_until(lambda: next((texts(r) for r in h.replies()
                                         if r.get("text", "").startswith("Outdated sidecars")),
                                        None), what="the drift report in the thread")
        assert "pod(s) in" in drift and "workload(s)" in drift
        assert "Restart outdated" in texts(h.wait_button("approve-restart"))
        h.click(ALICE, "approve-restart")
        assert "asked for this" in h.wait_ephemeral(ALICE, "Nothing was done")
        h.click(BOB, "approve-restart")
        h.wait_phase(Phase.PATCH_DONE, timeout=40)
        h.wait_card("Patch done")

        sidecars = pod_sidecars(kube)
        assert sidecars and [s for s in sidecars if not (s[3] or "").endswith(PATCHED)] == []
        census = h.bot.services.workflow.adapters("aks-sandbox").cluster.census.take()
        assert census.drift == () and set(census.by_version) == {"1.22.6"}
        check_patch_drift(h.bot.services, "aks-sandbox")
        assert len(_drift_posts(h)) == 1
