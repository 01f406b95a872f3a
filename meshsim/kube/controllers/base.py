"""Helpers the simulated controllers share: owner references, template hashes, names,
int-or-percent values and conditions, written the way kube-controller-manager writes them.
"""

from __future__ import annotations

import calendar
import functools
import math
import random
import time
from collections.abc import Iterable
from typing import Any

import orjson

from meshsim.kube.resources import ResourceType, by_kind
from meshsim.kube.store import Obj, Store

POD = by_kind("Pod")
DEPLOYMENT = by_kind("Deployment")
REPLICASET = by_kind("ReplicaSet")
STATEFULSET = by_kind("StatefulSet")
DAEMONSET = by_kind("DaemonSet")
HPA = by_kind("HorizontalPodAutoscaler")
SERVICE = by_kind("Service")
NAMESPACE = by_kind("Namespace")
CONFIGMAP = by_kind("ConfigMap")
JOB = by_kind("Job")
CRONJOB = by_kind("CronJob")

# apimachinery's rand.String alphabet: no vowels, no confusable digits.
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
NODE_NAMES = tuple(f"aks-nodepool1-38291746-vmss00000{i}" for i in range(3))


def fnv32a(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    """apimachinery's SafeEncodeString: each byte mapped onto the safe alphabet."""
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in text.encode())


def template_hash(template: Obj) -> str:
    """ComputeHash: FNV-32a of the pod template, printed in decimal, then safe-encoded."""
    return _hash_of(orjson.dumps(template, option=orjson.OPT_SORT_KEYS))


@functools.lru_cache(maxsize=8192)
def _hash_of(data: bytes) -> str:
    return safe_encode(str(fnv32a(data)))


def clone(obj: Obj) -> Obj:
    """A deep copy of JSON-shaped data (an orjson round trip: much faster than deepcopy)."""
    copied: Obj = orjson.loads(orjson.dumps(obj))
    return copied


def random_suffix(rng: random.Random, length: int = 5) -> str:
    return "".join(rng.choice(SAFE_ALPHABET) for _ in range(length))


def owner_ref(owner: Obj) -> Obj:
    meta = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"],
            "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}


def controller_of(obj: Obj) -> Obj | None:
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller"):
            return dict(ref)
    return None


def owned_by(store: Store, rt: ResourceType, owner: Obj) -> list[Obj]:
    uid = owner["metadata"]["uid"]
    return [o for o in store.list(rt, owner["metadata"]["namespace"])
            if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or ())]


def int_or_percent(value: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        return int(text)
    scaled = int(text[:-1]) * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def parse_time(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))


def condition(kind: str, status: str, reason: str, message: str, now: str,
              with_update: bool = True) -> Obj:
    cond: Obj = {"type": kind, "status": status}
    if with_update:
        cond["lastUpdateTime"] = now
    cond.update(lastTransitionTime=now, reason=reason, message=message)
    return cond


def set_condition(conditions: list[Obj], new: Obj) -> list[Obj]:
    """SetDeploymentCondition: keep lastTransitionTime when the status does not change; a
    condition with the same status and reason is left as it is."""
    out = [c for c in conditions if c["type"] != new["type"]]
    old = next((c for c in conditions if c["type"] == new["type"]), None)
    if old is not None and old["status"] == new["status"] and old.get("reason") == new["reason"]:
        return conditions
    if old is not None and old["status"] == new["status"]:
        new = dict(new, lastTransitionTime=old["lastTransitionTime"])
    out.append(new)
    return out


def find_condition(obj: Obj, kind: str) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == kind:
            return dict(cond)
    return None


def pod_ready(pod: Obj) -> bool:
    cond = find_condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def active(pods: Iterable[Obj]) -> list[Obj]:
    """FilterActivePods: not terminated, not being deleted."""
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]


def write_status(store: Store, rt: ResourceType, obj: Obj, status: Obj) -> Obj:
    """Replace `status` on the current version of `obj` (callers hold `store.lock`)."""
    if obj.get("status") == status:
        return obj
    meta = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    return store.update(rt, dict(obj, metadata=meta, status=status), status_only=True)


def replace(store: Store, rt: ResourceType, obj: Obj) -> Obj:
    """Write a controller's change to spec or metadata over whatever version is current."""
    meta = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    return store.update(rt, dict(obj, metadata=meta))
