"""A fleet's plan: for each cluster of each ring, the fleet's target where the cluster can take
it, otherwise why not (its Kubernetes version must be upgraded first, AKS does not offer the
target from its revision, it is already there, or an upgrade is under way). A cluster that
cannot take the target is shown and the rest proceed, or the whole fleet holds, as the fleet's
configuration says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.upgrade.versions import as_revision


class OnUnfit(StrEnum):
    SKIP = "skip"  # show the cluster and go on with the rest
    HOLD = "hold"  # the whole fleet waits until every cluster can take the target


class Fitness(StrEnum):
    READY = "ready"  # AKS offers the target: the cluster's run may start
    AT_TARGET = "at_target"  # nothing to do
    NEEDS_KUBERNETES = "needs_kubernetes"  # the target does not support its Kubernetes version
    NOT_OFFERED = "not_offered"  # AKS does not offer the target from its revision (yet)
    BUSY = "busy"  # an upgrade is under way (two revisions installed)
    UNREADABLE = "unreadable"  # ARM could not be read: no verdict


@dataclass(frozen=True)
class Ring:
    name: str
    clusters: tuple[str, ...]
    max_parallel: int = 1


@dataclass(frozen=True)
class ClusterFacts:
    """What ARM shows of one cluster: revisions, Kubernetes version, what AKS offers, and the
    Kubernetes minors each revision of its location supports."""

    name: str
    revisions: tuple[str, ...]
    kubernetes_version: str
    offered: tuple[str, ...]
    supports: Mapping[str, tuple[str, ...]]  # revision -> Kubernetes minors ("1.30")
    error: str = ""  # set when ARM could not be read


@dataclass(frozen=True)
class ClusterPlan:
    cluster: str
    ring: str
    current: str
    target: str
    fitness: Fitness
    reason: str

    @property
    def goes(self) -> bool:
        return self.fitness is Fitness.READY


@dataclass(frozen=True)
class FleetPlan:
    fleet: str
    target: str
    on_unfit: OnUnfit
    clusters: tuple[ClusterPlan, ...]  # ring by ring, in the fleet's order

    @property
    def unfit(self) -> tuple[ClusterPlan, ...]:
        return tuple(c for c in self.clusters
                     if c.fitness not in (Fitness.READY, Fitness.AT_TARGET))

    @property
    def holds(self) -> bool:
        """The fleet cannot start: it holds on unfit clusters, or nothing would move."""
        return (self.on_unfit is OnUnfit.HOLD and bool(self.unfit)) or \
            not any(c.goes for c in self.clusters)

    def ring(self, name: str) -> tuple[ClusterPlan, ...]:
        return tuple(c for c in self.clusters if c.ring == name)


def plan_fleet(fleet: str, rings: Sequence[Ring], facts: Mapping[str, ClusterFacts],
               target: str, on_unfit: OnUnfit) -> FleetPlan:
    plans = tuple(fit(facts[c], ring.name, target) for ring in rings for c in ring.clusters)
    return FleetPlan(fleet, target, on_unfit, plans)


def fit(f: ClusterFacts, ring: str, target: str) -> ClusterPlan:
    """What `target` means for the cluster `f` describes."""
    current = f.revisions[0] if f.revisions else ""

    def plan(fitness: Fitness, reason: str) -> ClusterPlan:
        return ClusterPlan(f.name, ring, current, target, fitness, reason)

    if f.error:
        return plan(Fitness.UNREADABLE, f"ARM could not be read: {f.error}")
    if len(f.revisions) > 1:
        return plan(Fitness.BUSY, f"an upgrade is under way ({' and '.join(f.revisions)} "
                                  "installed): finish or roll it back first")
    if current == target:
        return plan(Fitness.AT_TARGET, f"already on {target}")
    if current and as_revision(current) > as_revision(target):
        return plan(Fitness.AT_TARGET, f"on {current}, newer than {target}")
    minor = ".".join(f.kubernetes_version.split(".")[:2])
    supported = f.supports.get(target, ())
    if supported and minor not in supported:
        return plan(Fitness.NEEDS_KUBERNETES,
                    f"{target} supports Kubernetes {supported[0]} to {supported[-1]}; the "
                    f"cluster runs {f.kubernetes_version}: upgrade Kubernetes first "
                    "(az aks upgrade)")
    if target in f.offered:
        return plan(Fitness.READY, f"{current} to {target}")
    offered = ", ".join(f.offered) or "nothing"
    return plan(Fitness.NOT_OFFERED, f"AKS offers {offered} from {current}, not {target}: "
                                     "upgrade in steps, one fleet run each")
