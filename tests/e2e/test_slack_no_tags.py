"""`start <cluster> --no-tags` through the simulated Slack: the run's own choice, not the config.

The sandbox's clusters use revision tags by default; alice asks for a run without them, and
the run relabels namespaces straight to the new revision and never creates the canary tag.
"""

from __future__ import annotations

from pathlib import Path

from bot.upgrade.phases import Phase
from tests.e2e.slack_harness import ALICE, BOB, CAROL, running_bot, texts, wait_until
from tests.integration.conftest_workflow import NEW, OLD, namespace_labels, tags


def test_no_tags_start_relabels_namespaces_to_the_new_revision_without_a_canary_tag(
        tmp_path: Path) -> None:
    with running_bot(tmp_path) as h:
        kube = h.sim.clusters["aks-sandbox"]
        assert h.bot.services.config.cluster("aks-sandbox").tags.use_tags
        assert namespace_labels(kube)["default"] == OLD
        h.command(ALICE, "start aks-sandbox --no-tags")
        answer = h.wait_ephemeral(ALICE, "Run 1 planned")
        assert "without revision tags" in answer, h.ephemerals(ALICE)
        h.wait_card("Without revision tags")
        plan = wait_until(lambda: next((texts(r) for r in h.replies()
                                        if r.get("text", "").startswith("Plan ·")), None),
                          what="the plan in the thread")
        assert "without revision tags" in plan and "relabelling namespaces" in plan
        assert h.run().plan["use_tags"] is False
        h.wait_button("approve-start")
        h.click(BOB, "approve-start")
        h.wait_phase(Phase.CANARY_READY)
        assert "prod-canary" not in tags(kube)
        h.wait_button("approve-roll")
        h.click(CAROL, "approve-roll")
        h.wait_phase(Phase.VERIFYING)
        labels = namespace_labels(kube)
        assert labels["default"] == labels["payments"] == NEW
        assert "prod-canary" not in tags(kube)
        done = [e.what for e in h.bot.services.store.audit_log(run_id=h.run().id)]
        assert "kubectl label namespace default istio.io/rev=asm-1-23 --overwrite" in done
        assert not [w for w in done if "prod-canary" in w]
        assert "Without revision tags" in texts(h.card())
