"""Who calls whom. Bookinfo's call graph by app (productpage calls details and reviews, reviews
calls ratings); a StatefulSet, or a `worker`, is called by the other Deployments of its
namespace; a DaemonSet by callers outside the mesh (`unknown`); any other workload by the
external ingress gateway. A `traffic.meshsim.io/callers` annotation names the callers
("productpage-v1,shop/web") instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from meshsim.traffic.census import Workload, WorkloadKey
from meshsim.traffic.profile import CALLERS

GATEWAY_APP = "aks-istio-ingressgateway-external"
BOOKINFO_CALLERS = {"details": "productpage", "reviews": "productpage", "ratings": "reviews"}
Caller = Workload | None  # None: a client outside the mesh ("unknown")


def gateway(found: Mapping[WorkloadKey, Workload]) -> Workload | None:
    """The external ingress gateway with the most Ready pods (during a canary, two)."""
    gateways = [w for w in found.values() if not w.meshed and w.app == GATEWAY_APP]
    return max(gateways, key=lambda w: (w.ready_pods, w.name), default=None)


def callers(workload: Workload, notes: Mapping[str, str], found: Mapping[WorkloadKey, Workload],
            neighbours: list[Workload], entry: Workload | None) -> list[Caller]:
    """`neighbours`: the meshed workloads of `workload`'s namespace; `entry`: the gateway."""
    named = notes.get(CALLERS)
    if named:
        return [found[k] for k in _keys(workload.namespace, named) if k in found] or [entry]
    app = BOOKINFO_CALLERS.get(workload.app)
    if app is not None:
        return [w for w in neighbours if w.app == app] or [entry]
    if workload.kind == "StatefulSet" or workload.name == "worker" or \
            workload.name.endswith("-worker"):
        return [w for w in neighbours if w.kind == "Deployment" and w is not workload
                and not w.name.endswith("worker")] or [entry]
    if workload.kind == "DaemonSet":
        return [None]
    return [entry]


def _keys(namespace: str, text: str) -> list[WorkloadKey]:
    out: list[WorkloadKey] = []
    for item in (part.strip() for part in text.split(",")):
        if item:
            ns, _, name = item.rpartition("/")
            out.append((ns or namespace, name))
    return out
