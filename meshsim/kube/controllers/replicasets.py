"""The ReplicaSet controller: keep `spec.replicas` pods, created through admission.

A create the admission chain refuses (an unreachable istiod with `failurePolicy: Fail`) leaves
the pod missing and sets the `ReplicaFailure` condition (reason `FailedCreate`), and the sync is
retried after a back-off, as kube-controller-manager does.
"""

from __future__ import annotations

import itertools
import random

from meshsim.clock import SimClock
from meshsim.kube.controllers.base import (
    NODE_NAMES,
    POD,
    REPLICASET,
    active,
    condition,
    owned_by,
    pod_ready,
    random_suffix,
    write_status,
)
from meshsim.kube.controllers.pods import new_pod
from meshsim.kube.store import APIError, Obj, Store

RETRY_AFTER = 5.0  # sim seconds between attempts after a failed create


class ReplicaSetController:
    def __init__(self, store: Store, clock: SimClock, rng: random.Random) -> None:
        self.store, self.clock, self.rng = store, clock, rng
        self._nodes = itertools.cycle(NODE_NAMES)  # the scheduler's spreading, simplified

    def sync(self, namespace: str, name: str, instant: bool = False) -> float | None:
        with self.store.lock:
            rs = self.store.find(REPLICASET, namespace, name)
            if rs is None:
                return None
            pods = active(owned_by(self.store, POD, rs))
            error = self._scale(rs, pods)
            pods = active(owned_by(self.store, POD, rs))
            write_status(self.store, REPLICASET, rs, self._status(rs, pods, error))
            return RETRY_AFTER if error else None

    def _scale(self, rs: Obj, pods: list[Obj]) -> APIError | None:
        want = int(rs["spec"].get("replicas", 1))
        for pod in _deletion_order(pods)[: max(len(pods) - want, 0)]:
            self.store.delete(POD, pod["metadata"]["namespace"], pod["metadata"]["name"])
        hash_label = (rs["metadata"].get("labels") or {}).get("pod-template-hash")
        for _ in range(want - len(pods)):
            name = f"{rs['metadata']['name']}-{random_suffix(self.rng)}"
            labels = {"pod-template-hash": hash_label} if hash_label else None
            try:
                pod = new_pod(rs["spec"]["template"], rs, name, labels, next(self._nodes))
                self.store.create(POD, pod)
            except APIError as exc:
                return exc
        return None

    def _status(self, rs: Obj, pods: list[Obj], error: APIError | None) -> Obj:
        ready = sum(1 for p in pods if pod_ready(p))
        status: Obj = {"replicas": len(pods), "fullyLabeledReplicas": len(pods),
                       "readyReplicas": ready, "availableReplicas": ready,
                       "observedGeneration": rs["metadata"].get("generation", 1)}
        if error is not None:
            status["conditions"] = [condition("ReplicaFailure", "True", "FailedCreate",
                                              error.message, self.clock.rfc3339(), False)]
        return {k: v for k, v in status.items()
                if v != 0 or k in ("replicas", "observedGeneration")}


def _deletion_order(pods: list[Obj]) -> list[Obj]:
    """Unscheduled, then not ready, then the newest first (controller.ActivePods ordering)."""
    return sorted(pods, key=lambda p: (bool(p["spec"].get("nodeName")), pod_ready(p),
                                       _negated(p["metadata"].get("creationTimestamp", ""))))


def _negated(stamp: str) -> tuple[int, ...]:
    return tuple(-ord(ch) for ch in stamp)
