"""Reading and clicking a fleet through the simulated Slack: the fleet card, each cluster's own
card, and a cluster taken through its normal procedure by its approvers."""

from __future__ import annotations

import time
from typing import Any, cast

from bot.slack.buttons import phase_label
from bot.store.repository import Store
from bot.upgrade.phases import Phase
from meshsim.sim import MeshSim
from tests.e2e.slack_harness import BOB, CAROL, CHANNEL, texts, wait_until

FLEET, TARGET = "fleet", "asm-1-24"
RINGS = {"dev": ("aks-dev-1", "aks-dev-2"), "staging": ("aks-staging-1", "aks-staging-2"),
         "prod": ("aks-prod-weu-1", "aks-prod-weu-2", "aks-prod-eus-1", "aks-prod-eus-2")}
MOVING = ("aks-dev-1", "aks-staging-1", "aks-staging-2", "aks-prod-weu-1", "aks-prod-weu-2",
          "aks-prod-eus-1")  # aks-dev-2 is on the target, aks-prod-eus-2 needs Kubernetes


def messages(sim: MeshSim) -> list[dict[str, Any]]:
    return list(sim.slack.messages(CHANNEL)["messages"])


def cluster_cards(sim: MeshSim, cluster: str) -> list[dict[str, Any]]:
    return [m for m in messages(sim) if f"Mesh upgrade · {cluster}:" in texts(m)]


def fleet_cards(sim: MeshSim) -> list[dict[str, Any]]:
    return [m for m in messages(sim) if f"Fleet {FLEET} →" in texts(m)]


def fleet_card(sim: MeshSim, part: str = "", timeout: float = 60.0) -> dict[str, Any]:
    """The fleet card once it says `part` (and the only fleet card: it is edited in place)."""
    def saying() -> dict[str, Any] | None:
        cards = fleet_cards(sim)
        assert len(cards) <= 1, "a second fleet card was posted"
        return cards[0] if cards and part in texts(cards[0]) else None
    return cast(dict[str, Any], wait_until(saying, timeout, f"the fleet card saying {part!r}"))


def row(card: dict[str, Any], cluster: str) -> str:
    """The fleet card's row about `cluster` (its name may be a link), with its evidence line."""
    lines = texts(card).splitlines()
    found = [i for i, line in enumerate(lines) if line.startswith(":") and (
        f"|{cluster}>" in line or f"`{cluster}`" in line)]  # a row starts with its emoji
    assert len(found) == 1, (cluster, [lines[i] for i in found])
    start = end = found[0]
    while end + 1 < len(lines) and lines[end + 1].startswith("      "):
        end += 1
    return "\n".join(lines[start:end + 1])


def click_fleet(sim: MeshSim, user: str, action: str) -> None:
    card = fleet_card(sim, "")
    sim.slack.click(user, CHANNEL, card["ts"], f"fleet-{action}")


def click_cluster(sim: MeshSim, user: str, cluster: str, action_id: str,
                  timeout: float = 60.0) -> None:
    def offered() -> dict[str, Any] | None:
        cards = cluster_cards(sim, cluster)
        return cards[-1] if cards and f'"{action_id}"' in str(cards[-1]["blocks"]).replace(
            "'", '"') else None
    card = cast(dict[str, Any], wait_until(offered, timeout, f"{cluster}: {action_id}"))
    sim.slack.click(user, CHANNEL, card["ts"], action_id)


def upgrade(sim: MeshSim, store: Store, cluster: str) -> None:
    """bob starts, carol rolls, bob completes the cluster's own run (alice asked for the
    fleet, so her approval would not count)."""
    click_cluster(sim, BOB, cluster, "approve-start")
    click_cluster(sim, CAROL, cluster, "approve-roll")
    click_cluster(sim, BOB, cluster, "approve-complete")
    wait_phase(store, cluster, Phase.COMPLETED)


def wait_phase(store: Store, cluster: str, phase: Phase, timeout: float = 60.0) -> None:
    def there() -> bool:
        runs = store.recent_runs(cluster, 1)
        return bool(runs) and runs[0].phase is phase
    wait_until(there, timeout, f"{cluster} {phase}")


def revisions(sim: MeshSim, cluster: str) -> list[str]:
    """ARM's goal revisions of `cluster`."""
    c = next(c for c in sim.describe()["clusters"] if c["name"] == cluster)
    return list(sim.arm.cluster_state(c["subscription_id"], c["resource_group"],
                                      cluster)["revisions"])


def settle(seconds: float = 1.0) -> None:
    """Let the bot's tick look again (nothing should change meanwhile)."""
    time.sleep(seconds)


def cards_agree(sim: MeshSim, store: Store, fleet_run_id: int, timeout: float = 20.0) -> None:
    """Every cluster card, and the fleet card's row of each cluster under way or done, show the
    phase its run is in (the store's word), once the bot has caught up."""
    def agree() -> bool:
        card = fleet_card(sim)
        for m in store.fleets.members(fleet_run_id):
            if m.run_id is None:
                continue
            run = store.get_run(m.run_id)
            mine = [c for c in cluster_cards(sim, m.cluster) if f"Run {run.id}" in texts(c)
                    or f"run {run.id}" in texts(c)]
            label = phase_label(run.phase)
            if not cluster_cards(sim, m.cluster) or \
                    label not in texts(cluster_cards(sim, m.cluster)[-1]) or \
                    label not in row(card, m.cluster) or len(mine) > 1:
                return False
        return True
    wait_until(agree, timeout, "every cluster card and the fleet card to agree with the store")
