"""Workload identity and the pod facts several checks read (owner, readiness, restarts).

Pods are read as raw JSON dicts (see `bot/kube/rest.py`). A pod's workload is found through its
controller ownerReference: ReplicaSet `<deployment>-<pod-template-hash>` → Deployment (the
deployment controller names ReplicaSets that way and labels their pods with the hash, so no
ReplicaSet list is needed), StatefulSet and DaemonSet directly.
"""

from __future__ import annotations

from typing import Any

from bot.upgrade.cluster_facts import WorkloadRef

Obj = dict[str, Any]




def owner_of(pod: Obj) -> WorkloadRef:
    """The workload that owns a pod; a bare pod owns itself."""
    meta = pod["metadata"]
    namespace = meta.get("namespace", "")
    ref = _controller(meta.get("ownerReferences") or ())
    if ref is None:
        return WorkloadRef("Pod", namespace, meta["name"])
    kind, name = ref.get("kind", ""), ref.get("name", "")
    if kind == "ReplicaSet":
        pod_hash = (meta.get("labels") or {}).get("pod-template-hash")
        if pod_hash and name.endswith("-" + pod_hash):
            return WorkloadRef("Deployment", namespace, name[: -len(pod_hash) - 1])
    return WorkloadRef(kind, namespace, name)


def _controller(refs: Any) -> Obj | None:
    for ref in refs:
        if ref.get("controller"):
            return dict(ref)
    return None


def pod_ready(pod: Obj) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def container_statuses(pod: Obj) -> list[Obj]:
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or ()), *(status.get("containerStatuses") or ())]


def pod_restarts(pod: Obj) -> int:
    return sum(int(cs.get("restartCount") or 0) for cs in container_statuses(pod))


def crashlooping(pod: Obj) -> tuple[str, ...]:
    """Names of the pod's containers waiting in CrashLoopBackOff."""
    return tuple(cs.get("name", "") for cs in container_statuses(pod)
                 if _waiting_reason(cs) == "CrashLoopBackOff")


def _waiting_reason(status: Obj) -> str:
    return str(((status.get("state") or {}).get("waiting") or {}).get("reason") or "")
