"""The garbage collector's cascade: dependents whose ownerReferences name a deleted owner's
uid are deleted too (background propagation, the default for kubectl and the controllers).
"""

from __future__ import annotations

from meshsim.kube.controllers.base import JOB, POD, REPLICASET
from meshsim.kube.resources import ResourceType
from meshsim.kube.store import APIError, Obj, Store

DEPENDENT_TYPES = (REPLICASET, JOB, POD)
OWNER_KINDS = frozenset({"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job",
                         "CronJob"})


def collect(store: Store, namespace: str, uid: str) -> int:
    """Delete every dependent of `uid` in `namespace`, recursively; the count deleted."""
    deleted = 0
    with store.lock:
        for rt in DEPENDENT_TYPES:
            for obj in store.list(rt, namespace):
                if any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or ()):
                    deleted += _delete(store, rt, obj)
    return deleted


def delete_cascade(store: Store, rt: ResourceType, namespace: str, name: str) -> Obj | None:
    """Delete an object and, at once, everything it owns; None if it was not there."""
    with store.lock:
        obj = store.find(rt, namespace, name)
        if obj is None:
            return None
        _delete(store, rt, obj)
        return obj


def _delete(store: Store, rt: ResourceType, obj: Obj) -> int:
    meta = obj["metadata"]
    try:
        store.delete(rt, meta.get("namespace", ""), meta["name"])
    except APIError:
        return 0
    return 1 + (collect(store, meta.get("namespace", ""), meta["uid"])
                if obj.get("kind") in OWNER_KINDS else 0)
