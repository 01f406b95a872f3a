"""`/mesh-upgrade fleet plan` through Slack on the `fleet` scenario: eight clusters in three
rings, read from meshsim's ARM side by side; each with what the target means for it."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.slack_harness import ALICE, running_bot


def test_the_fleet_plan_shows_every_ring_and_what_each_cluster_can_do(tmp_path: Path) -> None:
    with running_bot(tmp_path, scenario="fleet") as h:
        ack = h.command(ALICE, "fleet plan fleet --to asm-1-24")
        assert "looking at its clusters" in str(ack)
        plan = h.wait_ephemeral(ALICE, "Fleet plan · fleet → asm-1-24")
        rings = [plan.index(f"Ring {i}: {name}") for i, name in
                 enumerate(("dev", "staging", "prod"), 1)]
        assert rings == sorted(rings)
        assert "6 of 8 clusters would upgrade to *asm-1-24*, 1 already run it, 1 cannot" in plan
        assert "`aks-dev-2`: already on asm-1-24" in plan
        assert "`aks-dev-1`: asm-1-22 to asm-1-24" in plan
        assert ("`aks-prod-eus-2`: asm-1-24 supports Kubernetes 1.28 to 1.33; the cluster runs "
                "1.27.100: upgrade Kubernetes first") in plan
        assert "They are shown and skipped" in plan
        missing = h.command(ALICE, "fleet plan nope --to asm-1-24")
        assert "looking at its clusters" in str(missing)
        assert "There is no fleet 'nope'" in h.wait_ephemeral(ALICE, "no fleet")
