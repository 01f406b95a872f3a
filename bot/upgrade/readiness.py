"""Whether the cluster is ready for the run's next step, beyond what still uses a revision:
which unhealthy workloads stop Complete, and whether the control planes serve (step 5).

Health: only meshed workloads block, those whose running pods carry a sidecar or, with no pod
to look at, whose namespace injects one. Any other unhealthy workload (a crash-looping app
without a sidecar, an admission controller in gatekeeper-system) is reported as not blocking:
the upgrade neither caused it nor can fix it, and holding Complete for it helps nobody.

Control planes: istiod and the revision's gateways, ingress (`aks-istio-ingressgateway-<mode>-
<rev>`) and egress (`<name>-<rev>` in the egress namespace). Both serve before the data plane
moves, and the canary has every gateway the stable revision has, since one Service spans the
gateway pods of both (aks-arm.md §4). After complete or rollback the surviving plane serves and
nothing of the removed one is left.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.upgrade.cluster_facts import (
    Census,
    Component,
    HealthReport,
    NamespaceInjection,
    RevisionPlane,
    WorkloadHealth,
)

SHOWN_PODS = 5


@dataclass(frozen=True)
class HealthVerdict:
    blocking: tuple[WorkloadHealth, ...]  # meshed and unhealthy: Complete waits for them
    not_blocking: tuple[WorkloadHealth, ...]  # unhealthy, but without a sidecar


def judge_health(report: HealthReport, census: Census,
                 injections: Iterable[NamespaceInjection]) -> HealthVerdict:
    injecting = {ns.name for ns in injections if ns.injected}
    blocking: list[WorkloadHealth] = []
    other: list[WorkloadHealth] = []
    for w in report.unhealthy:
        pods = census.by_workload.get(w.workload)
        meshed = bool(pods.injected) if pods is not None and pods.pods \
            else w.workload.namespace in injecting
        (blocking if meshed else other).append(w)
    return HealthVerdict(tuple(blocking), tuple(other))


def unhealthy(workloads: Iterable[WorkloadHealth]) -> tuple[str, ...]:
    """`deployment/web -n shop unhealthy (1/2 available, web-1/istio-proxy CrashLoopBackOff)`."""
    return tuple(f"{w.workload} unhealthy ({problem(w)})" for w in workloads)


def not_blocking(workloads: Iterable[WorkloadHealth]) -> tuple[str, ...]:
    return tuple(f"{w.workload} unhealthy ({problem(w)}): not blocking, it has no sidecar "
                 "so the upgrade does not touch it; its owners should look at it"
                 for w in workloads)


def problem(w: WorkloadHealth) -> str:
    why = [f"{w.available}/{w.desired} available"]
    why += [f"{c} CrashLoopBackOff" for c in w.crashlooping[:3]]
    return ", ".join(why)


# --- control planes ------------------------------------------------------------------------


def not_ready(plane: RevisionPlane) -> tuple[str, ...]:
    """Each part of `plane` that is not Ready, with kubectl's words for why."""
    parts = (plane.istiod, *plane.gateways)
    return tuple(f"{c.name}: {c.message}" for c in parts if not c.is_ready)


def canary_gaps(stable: RevisionPlane, canary: RevisionPlane) -> tuple[str, ...]:
    """What keeps the canary from serving beside the stable revision; empty: both serve."""
    have = {_base(g, canary.revision) for g in canary.gateways}
    missing = [f"no gateway {name}-{canary.revision} in {namespace} yet"
               for namespace, name in sorted({_base(g, stable.revision) for g in stable.gateways}
                                             - have)]
    return (*not_ready(stable), *not_ready(canary), *missing)


def removal_gaps(kept: RevisionPlane, removed: RevisionPlane) -> tuple[str, ...]:
    """What is wrong after `removed` was taken out: the plane that stays must serve, and
    nothing of the removed one may be left; empty: the run may say it is done."""
    left = [f"{d.name} in {d.namespace} is still there"
            for d in (removed.istiod, *removed.gateways) if d.desired]
    if removed.remaining:
        shown = ", ".join(removed.remaining[:SHOWN_PODS])
        more = len(removed.remaining) - SHOWN_PODS
        left.append(f"{len(removed.remaining)} {removed.revision} control-plane pod(s) still "
                    f"run: {shown}{f' and {more} more' if more > 0 else ''}")
    return (*not_ready(kept), *left)


def _base(gateway: Component, revision: str) -> tuple[str, str]:
    return gateway.namespace, gateway.name.removesuffix(f"-{revision}")
