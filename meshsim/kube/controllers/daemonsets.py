"""The DaemonSet controller on a fixed set of simulated nodes: one pod per node, replaced
node by node on a template change within `rollingUpdate.maxUnavailable`, with the status
fields `kubectl rollout status daemonset` reads.
"""

from __future__ import annotations

import random

from meshsim.clock import SimClock
from meshsim.kube.controllers.base import (
    DAEMONSET,
    NODE_NAMES,
    POD,
    active,
    int_or_percent,
    owned_by,
    pod_ready,
    random_suffix,
    template_hash,
    write_status,
)
from meshsim.kube.controllers.pods import new_pod
from meshsim.kube.store import APIError, Obj, Store

HASH_LABEL = "controller-revision-hash"
RETRY_AFTER = 5.0


class DaemonSetController:
    def __init__(self, store: Store, clock: SimClock, rng: random.Random,
                 nodes: tuple[str, ...] = NODE_NAMES) -> None:
        self.store, self.clock, self.rng, self.nodes = store, clock, rng, nodes

    def sync(self, namespace: str, name: str, instant: bool = False) -> float | None:
        with self.store.lock:
            ds = self.store.find(DAEMONSET, namespace, name)
            if ds is None:
                return None
            wanted = template_hash(ds["spec"]["template"])
            try:
                self._roll(ds, wanted)
                failed = False
            except APIError:
                failed = True
            write_status(self.store, DAEMONSET, ds, self._status(ds, wanted))
            return RETRY_AFTER if failed else None

    def _by_node(self, ds: Obj) -> dict[str, Obj]:
        return {p["spec"].get("nodeName", ""): p for p in active(owned_by(self.store, POD, ds))}

    def _roll(self, ds: Obj, wanted: str) -> None:
        # A failed daemon pod ("will try to kill it") or a succeeded one is deleted; the node
        # then gets a new pod below.
        for pod in owned_by(self.store, POD, ds):
            if (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
                self.store.delete(POD, pod["metadata"]["namespace"], pod["metadata"]["name"])
        pods = self._by_node(ds)
        for node in self.nodes:
            if node not in pods:
                self._create(ds, node, wanted)
        pods = self._by_node(ds)
        old = [p for p in pods.values() if _hash(p) != wanted]
        unavailable = sum(1 for n in self.nodes if n not in pods or not pod_ready(pods[n]))
        rolling = (ds["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}
        budget = int_or_percent(rolling.get("maxUnavailable", 1), len(self.nodes), True)
        if (ds["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate") != "RollingUpdate":
            return
        # Unhealthy old pods go at once; healthy ones within the unavailability budget.
        for pod in sorted(old, key=pod_ready):
            if pod_ready(pod) and unavailable >= budget:
                break
            unavailable += 1 if pod_ready(pod) else 0
            self.store.delete(POD, pod["metadata"]["namespace"], pod["metadata"]["name"])
            self._create(ds, pod["spec"].get("nodeName", ""), wanted)

    def _create(self, ds: Obj, node: str, wanted: str) -> None:
        name = f"{ds['metadata']['name']}-{random_suffix(self.rng)}"
        labels = {HASH_LABEL: wanted,
                  "pod-template-generation": str(ds["metadata"].get("generation", 1))}
        self.store.create(POD, new_pod(ds["spec"]["template"], ds, name, labels, node))

    def _status(self, ds: Obj, wanted: str) -> Obj:
        pods = self._by_node(ds)
        on_nodes = [pods[n] for n in self.nodes if n in pods]
        ready = sum(1 for p in on_nodes if pod_ready(p))
        status = {"observedGeneration": ds["metadata"].get("generation", 1),
                  "desiredNumberScheduled": len(self.nodes),
                  "currentNumberScheduled": len(on_nodes), "numberMisscheduled": 0,
                  "numberReady": ready, "numberAvailable": ready,
                  "numberUnavailable": len(self.nodes) - ready,
                  "updatedNumberScheduled": sum(1 for p in on_nodes if _hash(p) == wanted)}
        kept = ("desiredNumberScheduled", "currentNumberScheduled", "numberMisscheduled",
                "numberReady")
        return {k: v for k, v in status.items() if v or k in kept}


def _hash(pod: Obj) -> str:
    return str((pod["metadata"].get("labels") or {}).get(HASH_LABEL, ""))
