"""The kubelet's part: bind a new pod to a node, start its containers after a short delay,
and report `status` (phase, conditions, container statuses) as the kubelet does, including
the two faults a revision's sidecar can have: never Ready, or crash-looping.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import threading
from dataclasses import dataclass, field

import orjson

from meshsim.clock import SimClock
from meshsim.kube.controllers.base import NODE_NAMES, POD, owner_ref
from meshsim.kube.inject import STATUS
from meshsim.kube.store import Obj, Store

NEVER_READY, CRASHLOOP = "never-ready", "crashloop"
FAULT_KINDS = (NEVER_READY, CRASHLOOP)


@dataclass
class PodFaults:
    """Revisions whose injected pods misbehave; thread-safe, with change listeners."""

    active: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in FAULT_KINDS})
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, kind: str, revision: str) -> None:
        with self._lock:
            self.active[kind].add(revision)

    def clear(self, kind: str | None = None, revision: str | None = None) -> None:
        with self._lock:
            for name in (kind,) if kind else FAULT_KINDS:
                if revision is None:
                    self.active[name].clear()
                else:
                    self.active[name].discard(revision)

    def mode(self, revision: str | None) -> str:
        with self._lock:
            for kind in (CRASHLOOP, NEVER_READY):
                if revision is not None and revision in self.active[kind]:
                    return kind
        return "ready"

    def snapshot(self) -> dict[str, list[str]]:
        with self._lock:
            return {k: sorted(v) for k, v in self.active.items()}


def new_pod(template: Obj, owner: Obj, name: str, labels: dict[str, str] | None = None,
            node: str | None = None) -> Obj:
    """A pod from a workload's template, owned by `owner` (what the controllers POST)."""
    tmeta = template.get("metadata") or {}
    meta: Obj = {"name": name, "namespace": owner["metadata"]["namespace"],
                 "labels": {**(tmeta.get("labels") or {}), **(labels or {})},
                 "ownerReferences": [owner_ref(owner)]}
    if owner["kind"] != "StatefulSet":
        meta["generateName"] = name[: name.rfind("-") + 1]
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    spec = dict(template.get("spec") or {})  # shallow: Store.create deep-copies what it keeps
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def pod_revision(pod: Obj) -> str | None:
    status = (pod["metadata"].get("annotations") or {}).get(STATUS)
    if not status:
        return None
    revision = orjson.loads(status).get("revision")
    return str(revision) if revision else None


class Kubelet:
    """Per-pod sync: returns the sim-seconds after which it wants to look again, or None."""

    def __init__(self, store: Store, clock: SimClock, faults: PodFaults, rng: random.Random,
                 start_delay: float = 2.0) -> None:
        self.store, self.clock, self.faults, self.rng = store, clock, faults, rng
        self.start_delay = start_delay
        self._due: dict[tuple[str, str], float] = {}
        self._next_crash: dict[tuple[str, str], float] = {}
        self._nodes = itertools.cycle(NODE_NAMES)

    def sync(self, namespace: str, name: str, instant: bool = False) -> float | None:
        with self.store.lock:
            pod = self.store.find(POD, namespace, name)
            if pod is None:
                self._due.pop((namespace, name), None)
                self._next_crash.pop((namespace, name), None)
                return None
            return self._sync(pod, instant)

    def _sync(self, pod: Obj, instant: bool) -> float | None:
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        if not pod["spec"].get("nodeName"):
            pod = self._bind(pod)
        status = pod.get("status") or {}
        now = self.clock.now()
        if not status.get("containerStatuses") and not instant:
            self._write(pod, pending_status(pod, self.clock))
            self._due[key] = now + self.start_delay * self.rng.uniform(0.75, 1.25)
            return self._due[key] - now
        if status.get("phase") == "Pending" and not instant and now < self._due.get(key, 0):
            return self._due[key] - now
        return self._run(pod, key, now, instant)

    def _run(self, pod: Obj, key: tuple[str, str], now: float, instant: bool) -> float | None:
        mode = self.faults.mode(pod_revision(pod))
        restarts = proxy_restarts(pod)
        wait: float | None = None
        if mode == CRASHLOOP:
            due = self._next_crash.get(key)
            if due is None or now >= due:
                restarts += 1
                due = self._next_crash[key] = now + min(10 * 2 ** (restarts - 1), 300)
            wait = None if instant else due - now
        else:
            self._next_crash.pop(key, None)
        new = running_status(pod, self.clock, mode, restarts)
        if _fingerprint(new) != _fingerprint(pod.get("status") or {}):
            self._write(pod, new)
        return wait

    def _bind(self, pod: Obj) -> Obj:
        spec = dict(pod["spec"], nodeName=next(self._nodes))
        return self.store.update(POD, dict(pod, spec=spec))

    def _write(self, pod: Obj, status: Obj) -> None:
        self.store.update(POD, dict(pod, status=status), status_only=True)


def proxy_restarts(pod: Obj) -> int:
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        if status["name"] == "istio-proxy":
            return int(status.get("restartCount", 0))
    return 0


def _fingerprint(status: Obj) -> tuple[object, ...]:
    containers = tuple((c["name"], c.get("ready"), c.get("restartCount"), tuple(c.get("state", {})))
                       for c in status.get("containerStatuses") or ())
    return status.get("phase"), containers, tuple(
        (c["type"], c["status"]) for c in status.get("conditions") or ())


def _node_ip(pod: Obj) -> str:
    node = pod["spec"].get("nodeName") or NODE_NAMES[0]
    return f"10.224.0.{4 + int(node[-1]) if node[-1].isdigit() else 4}"


def _pod_ip(pod: Obj) -> str:
    digest = hashlib.blake2s(pod["metadata"]["name"].encode(), digest_size=2).digest()
    return f"10.244.{digest[0]}.{digest[1] % 250 + 2}"


def image_id(image: str) -> str:
    repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _container_id(pod: Obj, name: str, restarts: int) -> str:
    seed = f"{pod['metadata']['uid']}/{name}/{restarts}".encode()
    return "containerd://" + hashlib.sha256(seed).hexdigest()


def _cond(kind: str, ok: bool, now: str, reason: str = "", message: str = "") -> Obj:
    cond: Obj = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None,
                 "lastTransitionTime": now}
    if not ok and reason:
        cond.update(reason=reason, message=message)
    return cond


def pending_status(pod: Obj, clock: SimClock) -> Obj:
    now, spec = clock.rfc3339(), pod["spec"]
    inits = [c["name"] for c in spec.get("initContainers") or ()]
    names = [c["name"] for c in spec.get("containers") or ()]
    waiting = "PodInitializing" if inits else "ContainerCreating"
    status = _base(pod, clock, "Pending", [
        _cond("PodReadyToStartContainers", False, now),
        _cond("Initialized", not inits, now, "ContainersNotInitialized",
              f"containers with incomplete status: [{' '.join(inits)}]"),
        _cond("Ready", False, now, "ContainersNotReady",
              f"containers with unready status: [{' '.join(names)}]"),
        _cond("ContainersReady", False, now, "ContainersNotReady",
              f"containers with unready status: [{' '.join(names)}]"),
        _cond("PodScheduled", True, now)])
    status["containerStatuses"] = [
        {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
         "restartCount": 0, "started": False, "state": {"waiting": {"reason": waiting}}}
        for c in spec.get("containers") or ()]
    if inits:
        status["initContainerStatuses"] = [
            {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
             "restartCount": 0, "started": True,
             "state": {"running": {"startedAt": now}}} for c in spec["initContainers"]]
    return status


def _base(pod: Obj, clock: SimClock, phase: str, conditions: list[Obj]) -> Obj:
    old = pod.get("status") or {}
    start = old.get("startTime") or clock.rfc3339()
    host = _node_ip(pod)
    status: Obj = {"phase": phase, "conditions": conditions, "hostIP": host,
                   "hostIPs": [{"ip": host}], "startTime": start,
                   "qosClass": old.get("qosClass", "BestEffort")}
    if phase == "Running":
        ip = host if pod["spec"].get("hostNetwork") else _pod_ip(pod)
        status.update(podIP=ip, podIPs=[{"ip": ip}])
    return status


def running_status(pod: Obj, clock: SimClock, mode: str = "ready", restarts: int = 0) -> Obj:
    now, spec = clock.rfc3339(), pod["spec"]
    old = pod.get("status") or {}
    started = old.get("startTime") or now
    containers = [_running(pod, c, mode, restarts, started, now)
                  for c in spec.get("containers") or ()]
    unready = [c["name"] for c in containers if not c["ready"]]
    ready = not unready
    message = f"containers with unready status: [{' '.join(unready)}]"
    status = _base(pod, clock, "Running", [
        _cond("PodReadyToStartContainers", True, started),
        _cond("Initialized", True, started),
        _cond("Ready", ready, now, "ContainersNotReady", message),
        _cond("ContainersReady", ready, now, "ContainersNotReady", message),
        _cond("PodScheduled", True, started)])
    status["containerStatuses"] = containers
    if spec.get("initContainers"):
        status["initContainerStatuses"] = [
            {"name": c["name"], "image": c.get("image", ""),
             "imageID": image_id(c.get("image", "")),
             "containerID": _container_id(pod, c["name"], 0), "ready": True, "restartCount": 0,
             "started": False, "state": {"terminated": {
                 "exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": started,
                 "containerID": _container_id(pod, c["name"], 0)}}}
            for c in spec["initContainers"]]
    return status


def _running(pod: Obj, container: Obj, mode: str, restarts: int, started: str, now: str) -> Obj:
    name, image = container["name"], container.get("image", "")
    faulty = name == "istio-proxy" and mode != "ready"
    count = restarts if name == "istio-proxy" else 0
    status: Obj = {"name": name, "image": image, "imageID": image_id(image),
                   "containerID": _container_id(pod, name, count), "ready": not faulty,
                   "restartCount": count, "started": True,
                   "state": {"running": {"startedAt": started}}}
    if faulty and mode == CRASHLOOP:
        status["started"] = False
        status["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": (
            f"back-off {min(10 * 2 ** max(count - 1, 0), 300)}s restarting failed "
            f"container=istio-proxy pod={pod['metadata']['name']}_{pod['metadata']['namespace']}"
            f"({pod['metadata']['uid']})")}}
        status["lastState"] = {"terminated": {"exitCode": 255, "reason": "Error", "startedAt": now,
                                              "finishedAt": now,
                                              "containerID": _container_id(pod, name, count)}}
    return status
