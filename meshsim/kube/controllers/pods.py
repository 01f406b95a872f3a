"""The kubelet's part: bind a new pod to a node, start its containers after a short delay,
and report `status` as the kubelet does (meshsim.kube.controllers.podrun), including the two
faults a revision's sidecar can have: never Ready, or crash-looping.

Like the kubelet's status manager, it writes only when its own view changes: a status someone
else writes through `pods/status` stays until then (the periodic re-sync of a real kubelet is
not modelled), conditions it does not own are kept, and a pod in Succeeded or Failed is never
touched again: the kubelet does not move a pod out of a terminal phase.
"""

from __future__ import annotations

import itertools
import random
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson

from meshsim.clock import SimClock
from meshsim.kube.controllers.base import NODE_NAMES, POD, owner_ref
from meshsim.kube.controllers.containers import CRASHLOOP, NEVER_READY, crash_backoff
from meshsim.kube.controllers.podrun import observe, proxy_restarts
from meshsim.kube.controllers.podstatus import fingerprint, merge_foreign, pending_status
from meshsim.kube.inject import STATUS
from meshsim.kube.store import Obj, Store

FAULT_KINDS = (NEVER_READY, CRASHLOOP)
TERMINAL = ("Succeeded", "Failed")
Key = tuple[str, str]


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
        self._due: dict[Key, float] = {}
        self._next_crash: dict[Key, float] = {}
        self._written: dict[Key, tuple[Any, ...]] = {}  # the view last written, per pod
        self._uids: dict[Key, str] = {}  # a name reused by a new pod starts afresh
        self._nodes = itertools.cycle(NODE_NAMES)

    def sync(self, namespace: str, name: str, instant: bool = False) -> float | None:
        with self.store.lock:
            pod = self.store.find(POD, namespace, name)
            if pod is None or (pod.get("status") or {}).get("phase") in TERMINAL:
                self._forget((namespace, name))
                return None
            return self._sync(pod, instant)

    def _forget(self, key: Key) -> None:
        for memory in (self._due, self._next_crash, self._written, self._uids):
            memory.pop(key, None)

    def _sync(self, pod: Obj, instant: bool) -> float | None:
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        if self._uids.setdefault(key, pod["metadata"]["uid"]) != pod["metadata"]["uid"]:
            self._forget(key)  # deleted and created again (a StatefulSet's pod) unseen
            self._uids[key] = pod["metadata"]["uid"]
        if not pod["spec"].get("nodeName"):
            pod = self._bind(pod)
        now = self.clock.now()
        if key not in self._due and not instant and not (pod.get("status") or {}).get(
                "containerStatuses"):
            self._write(key, pod, pending_status(pod, self.clock))
            self._due[key] = now + self.start_delay * self.rng.uniform(0.75, 1.25)
        due = self._due.get(key, 0.0)
        if not instant and now < due:
            return due - now
        return self._run(pod, key, now, instant)

    def _run(self, pod: Obj, key: Key, now: float, instant: bool) -> float | None:
        mode = self.faults.mode(pod_revision(pod))
        restarts = proxy_restarts(pod)
        waits: list[float] = []
        if mode == CRASHLOOP:
            due = self._next_crash.get(key)
            if due is None or now >= due:
                restarts += 1
                due = self._next_crash[key] = now + crash_backoff(restarts)
            waits.append(due - now)
        else:
            self._next_crash.pop(key, None)
        status, wait = observe(pod, self.clock, mode, restarts)
        self._write(key, pod, merge_foreign(pod.get("status") or {}, status))
        if wait is not None:
            waits.append(wait)
        return None if instant or not waits else max(min(waits), 0.0)

    def _bind(self, pod: Obj) -> Obj:
        spec = dict(pod["spec"], nodeName=next(self._nodes))
        return self.store.update(POD, dict(pod, spec=spec))

    def _write(self, key: Key, pod: Obj, status: Obj) -> None:
        """Write the kubelet's view when it differs from the one it last wrote."""
        view = fingerprint(status)
        last = self._written.get(key)
        if (last if last is not None else fingerprint(pod.get("status") or {})) == view:
            return
        self._written[key] = view
        self.store.update(POD, dict(pod, status=status), status_only=True)
