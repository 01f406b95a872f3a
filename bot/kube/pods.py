"""Workload identity and the pod facts several checks read (owner, phase, sidecar, readiness,
restarts).

Pods are read as raw JSON dicts (see `bot/kube/rest.py`). A pod's workload is found through its
controller ownerReference: ReplicaSet `<deployment>-<pod-template-hash>` → Deployment (the
deployment controller names ReplicaSets that way and labels their pods with the hash, so no
ReplicaSet list is needed), StatefulSet, DaemonSet and Job directly. Its proxy is the
`istio-proxy` container (classic) or an init container of that name with `restartPolicy:
Always` (native sidecar, istio-kube.md §3); statuses are read from both lists.
"""

from __future__ import annotations

from typing import Any

from bot.upgrade.cluster_facts import WorkloadRef
from bot.upgrade.sidecar_mode import SidecarMode

Obj = dict[str, Any]
PROXY = "istio-proxy"
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})  # a pod in them never runs again


def pod_finished(pod: Obj) -> bool:
    """Succeeded or Failed (a finished Job's pod, an evicted one): it will not run again."""
    return (pod.get("status") or {}).get("phase") in FINISHED_PHASES


def proxy_of(spec: Obj) -> tuple[str | None, SidecarMode | None]:
    """The pod's istio-proxy image and how it runs it; (None, None) without one."""
    for container in spec.get("containers") or ():
        if container.get("name") == PROXY:
            return str(container.get("image") or "") or None, SidecarMode.CLASSIC
    for container in spec.get("initContainers") or ():
        if container.get("name") == PROXY and container.get("restartPolicy") == "Always":
            return str(container.get("image") or "") or None, SidecarMode.NATIVE
    return None, None


def app_exited(pod: Obj) -> bool:
    """Every app container ended while a classic istio-proxy still runs: the pod of a Job
    whose proxy never quits (it does only when the job calls /quitquitquit)."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or ()
    proxy = [cs for cs in statuses if cs.get("name") == PROXY]
    apps = [cs for cs in statuses if cs.get("name") != PROXY]
    return bool(proxy and apps) and "running" in (proxy[0].get("state") or {}) and all(
        "terminated" in (cs.get("state") or {}) for cs in apps)


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
