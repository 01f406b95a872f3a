"""The pod status the simulated kubelet reports (pkg/kubelet/kubelet_pods.go
generateAPIPodStatus, pkg/kubelet/status/generate.go): container and init container statuses,
the phase, and the conditions PodReadyToStartContainers, Initialized, Ready, ContainersReady
and PodScheduled, worded as the kubelet words them for running and for finished pods.
"""

from __future__ import annotations

import hashlib
from typing import Any

from meshsim.clock import SimClock
from meshsim.kube.controllers.base import NODE_NAMES
from meshsim.kube.store import Obj

KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                      "PodScheduled")


def node_ip(pod: Obj) -> str:
    node = pod["spec"].get("nodeName") or NODE_NAMES[0]
    return f"10.224.0.{4 + int(node[-1]) if node[-1].isdigit() else 4}"


def pod_ip(pod: Obj) -> str:
    if pod["spec"].get("hostNetwork"):
        return node_ip(pod)
    digest = hashlib.blake2s(pod["metadata"]["name"].encode(), digest_size=2).digest()
    return f"10.244.{digest[0]}.{digest[1] % 250 + 2}"


def image_id(image: str) -> str:
    repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def container_id(pod: Obj, name: str, restarts: int) -> str:
    seed = f"{pod['metadata']['uid']}/{name}/{restarts}".encode()
    return "containerd://" + hashlib.sha256(seed).hexdigest()


def cond(kind: str, ok: bool, at: str, reason: str = "", message: str = "") -> Obj:
    out: Obj = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None,
                "lastTransitionTime": at}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def unready(kind: str, names: list[str], at: str) -> Obj:
    """Ready / ContainersReady: True, or False naming the unready containers."""
    if not names:
        return cond(kind, True, at)
    return cond(kind, False, at, "ContainersNotReady",
                f"containers with unready status: [{' '.join(names)}]")


def container_status(pod: Obj, container: Obj, state: Obj, *, ready: bool = False,
                     started: bool = False, restarts: int = 0, last: Obj | None = None) -> Obj:
    """One entry of containerStatuses / initContainerStatuses."""
    name, image = container["name"], container.get("image", "")
    out: Obj = {"name": name, "state": state, "lastState": last or {}, "ready": ready,
                "restartCount": restarts, "image": image, "imageID": "", "started": started}
    if "waiting" not in state or last:
        out["imageID"] = image_id(image)
        out["containerID"] = container_id(pod, name, restarts)
    return out


def running(at: str) -> Obj:
    return {"running": {"startedAt": at}}


def terminated(pod: Obj, name: str, code: int, started: str, finished: str,
               restarts: int = 0) -> Obj:
    return {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                           "startedAt": started, "finishedAt": finished,
                           "containerID": container_id(pod, name, restarts)}}


def crash_waiting(pod: Obj, name: str, backoff: float) -> Obj:
    meta = pod["metadata"]
    return {"waiting": {"reason": "CrashLoopBackOff", "message": (
        f"back-off {int(backoff)}s restarting failed container={name} "
        f"pod={meta['name']}_{meta['namespace']}({meta['uid']})")}}


def base(pod: Obj, clock: SimClock, phase: str, conditions: list[Obj],
         with_ip: bool = True) -> Obj:
    old = pod.get("status") or {}
    host = node_ip(pod)
    status: Obj = {"phase": phase, "conditions": keep_transitions(old, conditions),
                   "hostIP": host, "hostIPs": [{"ip": host}],
                   "startTime": old.get("startTime") or clock.rfc3339(),
                   "qosClass": old.get("qosClass", "BestEffort")}
    if with_ip:
        ip = pod_ip(pod)
        status.update(podIP=ip, podIPs=[{"ip": ip}])
    return status


def keep_transitions(old: Obj, conditions: list[Obj]) -> list[Obj]:
    """A condition whose status did not change keeps its lastTransitionTime (status manager
    updateLastTransitionTime)."""
    before = {c.get("type"): c for c in old.get("conditions") or ()}
    out = []
    for c in conditions:
        prev = before.get(c["type"])
        if prev is not None and prev.get("status") == c["status"]:
            c = dict(c, lastTransitionTime=prev.get("lastTransitionTime"))
        out.append(c)
    return out


def merge_foreign(old: Obj, new: Obj) -> Obj:
    """mergePodStatus: conditions the kubelet does not own (a readiness gate's, a
    DisruptionTarget) stay, ahead of the kubelet's own."""
    foreign = [c for c in old.get("conditions") or () if c.get("type") not in KUBELET_CONDITIONS]
    if not foreign:
        return new
    return dict(new, conditions=[*foreign, *new.get("conditions", [])])


def pending_status(pod: Obj, clock: SimClock) -> Obj:
    """Accepted by the kubelet, sandbox and images on their way: nothing runs yet."""
    now, spec = clock.rfc3339(), pod["spec"]
    inits = [c["name"] for c in spec.get("initContainers") or ()]
    names = [c["name"] for c in spec.get("containers") or ()]
    status = base(pod, clock, "Pending", [
        cond("PodReadyToStartContainers", False, now),
        cond("Initialized", not inits, now, *(("ContainersNotInitialized",
             f"containers with incomplete status: [{' '.join(inits)}]") if inits else ())),
        unready("Ready", names, now), unready("ContainersReady", names, now),
        cond("PodScheduled", True, now)], with_ip=False)
    waiting = {"waiting": {"reason": "PodInitializing" if inits else "ContainerCreating"}}
    status["containerStatuses"] = [container_status(pod, c, waiting)
                                   for c in spec.get("containers") or ()]
    if inits:
        status["initContainerStatuses"] = [
            container_status(pod, c, {"waiting": {"reason": "PodInitializing"}})
            for c in spec["initContainers"]]
    return status


def fingerprint(status: Obj) -> tuple[Any, ...]:
    """What the kubelet's view consists of, timestamps aside: a change here is written."""
    def containers(key: str) -> tuple[Any, ...]:
        return tuple((c["name"], c.get("ready"), c.get("started"), c.get("restartCount"),
                      tuple(c.get("state") or {})) for c in status.get(key) or ())
    return (status.get("phase"), status.get("reason"), containers("containerStatuses"),
            containers("initContainerStatuses"),
            tuple((c["type"], c["status"]) for c in status.get("conditions") or ()))
