"""Reading a fleet: what ARM shows of each of its clusters, and the fleet's plan from it. The
clusters are read side by side (each is a few ARM GETs), and one that cannot be read is a
cluster without a verdict, never the end of the plan."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from bot.config.settings import BotConfig
from bot.fleet.plan import ClusterFacts, FleetPlan, plan_fleet
from bot.upgrade.errors import GiveUp, MeshUpgradeError
from bot.workflow.ports import Adapters

READERS = 8  # clusters read at once


def fleet_plan(config: BotConfig, adapters: Callable[[str], Adapters], name: str,
               to: str | None) -> FleetPlan:
    fleet = config.fleet(name)
    target = to or fleet.target
    if target is None:
        raise GiveUp(f"Fleet {name} has no target revision.",
                     f"Give one: `/mesh-upgrade fleet plan {name} --to asm-1-NN`, or set "
                     "`target:` in the fleet's configuration.")
    with ThreadPoolExecutor(READERS, thread_name_prefix="fleet-read") as pool:
        facts = dict(zip(fleet.clusters, pool.map(lambda c: cluster_facts(c, adapters(c)),
                                                  fleet.clusters), strict=True))
    return plan_fleet(name, fleet.ring_specs(), facts, target, fleet.on_unfit)


def cluster_facts(name: str, a: Adapters) -> ClusterFacts:
    try:
        state = a.mesh.mesh_state()
        offered = () if state.upgrade_in_progress else a.mesh.available_upgrades().upgrades
        profiles = a.mesh.revision_profiles(state.location)
    except MeshUpgradeError as exc:
        return ClusterFacts(name, (), "", (), {}, error=exc.message)
    return ClusterFacts(name, state.revisions, state.kubernetes_version, offered,
                        {p.revision: p.kubernetes_versions for p in profiles})
