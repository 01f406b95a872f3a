"""`kubectl rollout restart` for workloads, in waves watched to done by kubectl's rules.

A restart sets `spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]` by
strategic merge patch, as kubectl does. The value is the restart id the workflow recorded
(an RFC 3339 timestamp): a template that already carries it is not patched again, so a wave
repeated after a crash restarts no workload twice. Rollouts are followed through one watch
per kind (`bot/kube/watches.py`); the first that fails or stops progressing stops the wave.
"""

from __future__ import annotations

import queue
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kubernetes.client import AppsV1Api

from bot.kube.rest import KubeIO, Obj
from bot.kube.watches import EXPIRED, FAILED, PLURALS, KindWatch, WatchEvent, current_version
from bot.upgrade.cluster_facts import Restart, Stuck, WaveReport, WorkloadRef
from bot.upgrade.rollouts import RolloutState, progress_key, rollout_state

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
_SINGULAR = {"Deployment": "deployment", "StatefulSet": "stateful_set", "DaemonSet": "daemon_set"}


def restart_stamp(at: datetime | None = None) -> str:
    """A restart id in kubectl's format (RFC 3339, seconds)."""
    return (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")








@dataclass
class _Wave:
    pending: deque[WorkloadRef]
    latest: dict[WorkloadRef, Obj] = field(default_factory=dict)
    moved: dict[WorkloadRef, tuple[object, float]] = field(default_factory=dict)
    done: list[WorkloadRef] = field(default_factory=list)
    patched: list[WorkloadRef] = field(default_factory=list)
    skipped: list[tuple[WorkloadRef, str]] = field(default_factory=list)
    stuck: Stuck | None = None


class Restarter:
    def __init__(self, io: KubeIO, apps: AppsV1Api,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.io, self.apps, self.clock = io, apps, clock

    def read(self, workload: WorkloadRef) -> Obj:
        fn = getattr(self.apps, f"read_namespaced_{_SINGULAR[workload.kind]}")
        return self.io.raw("get", PLURALS[workload.kind], fn, workload.name, workload.namespace)

    def status(self, workload: WorkloadRef) -> RolloutState:
        return rollout_state(workload.kind, self.read(workload))

    def restart(self, workload: WorkloadRef, restart_id: str) -> Restart:
        return self._restart(workload, restart_id)[0]

    def _restart(self, workload: WorkloadRef, restart_id: str) -> tuple[Restart, Obj]:
        if workload.kind == "Job":
            return Restart(workload, False, "a Job cannot be rolled out: wait for it to finish, "
                           "or delete its pod"), {}
        if not workload.restartable:
            return Restart(workload, False, f"restarting is not supported for {workload.kind}"), {}
        current = self.read(workload)
        reason = _cannot_restart(workload.kind, current)
        if reason:
            return Restart(workload, False, reason), current
        template_meta = ((current.get("spec") or {}).get("template") or {}).get("metadata") or {}
        if (template_meta.get("annotations") or {}).get(RESTARTED_AT) == restart_id:
            return Restart(workload, False), current
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: restart_id}}}}}
        fn = getattr(self.apps, f"patch_namespaced_{_SINGULAR[workload.kind]}")
        patched = self.io.raw("patch", PLURALS[workload.kind], fn, workload.name,
                              workload.namespace, body, field_manager="mesh-upgrade-bot",
                              _content_type="application/strategic-merge-patch+json")
        return Restart(workload, True), patched

    def run_wave(self, workloads: Iterable[WorkloadRef], restart_id: str, *,
                 concurrency: int = 5, progress_timeout: float = 600.0) -> WaveReport:
        """Restart `workloads`, at most `concurrency` rolling at once, each watched to done."""
        start_requests = self.io.requests
        wave = _Wave(deque(dict.fromkeys(workloads)))
        events: queue.Queue[WatchEvent] = queue.Queue()
        watches = self._watch(list(wave.pending), events)
        try:
            while (wave.pending or wave.latest) and wave.stuck is None:
                self._fill(wave, restart_id, concurrency)
                self._judge(wave, progress_timeout)
                if wave.latest and wave.stuck is None:
                    self._wait(wave, events, watches)
        finally:
            for watch in watches.values():
                watch.stop()
        unfinished = tuple(w for w in wave.latest if wave.stuck is None or w != wave.stuck.workload)
        return WaveReport(restart_id, tuple(wave.done), tuple(wave.patched), tuple(wave.skipped),
                          wave.stuck, unfinished, tuple(wave.pending),
                          self.io.requests - start_requests)

    def _watch(self, workloads: list[WorkloadRef], events: queue.Queue[WatchEvent]
               ) -> dict[str, KindWatch]:
        watches = {}
        for kind in sorted({w.kind for w in workloads if w.restartable}):
            spaces = {w.namespace for w in workloads if w.kind == kind}
            namespace = next(iter(spaces)) if len(spaces) == 1 else None
            watch = KindWatch(self.io, self.apps, kind, namespace, events)
            watch.start(current_version(self.io, self.apps, kind, namespace))
            watches[kind] = watch
        return watches

    def _fill(self, wave: _Wave, restart_id: str, concurrency: int) -> None:
        while wave.pending and len(wave.latest) < concurrency:
            workload = wave.pending.popleft()
            result, obj = self._restart(workload, restart_id)
            if result.skipped:
                wave.skipped.append((workload, result.skipped))
                continue
            if result.patched:
                wave.patched.append(workload)
            wave.latest[workload] = obj
            wave.moved[workload] = (progress_key(obj), self.clock())

    def _judge(self, wave: _Wave, progress_timeout: float) -> None:
        now = self.clock()
        for workload, obj in list(wave.latest.items()):
            state = rollout_state(workload.kind, obj)
            if state.done:
                del wave.latest[workload]
                wave.done.append(workload)
            elif state.failed:
                wave.stuck = Stuck(workload, state.message)
            elif now - wave.moved[workload][1] > progress_timeout:
                wave.stuck = Stuck(workload, f"no progress for {progress_timeout:g} s; "
                                   f"last status: {state.message}")
            if wave.stuck:
                return

    def _wait(self, wave: _Wave, events: queue.Queue[WatchEvent],
              watches: dict[str, KindWatch]) -> None:
        try:
            event = events.get(timeout=1.0)
        except queue.Empty:
            return
        while True:
            self._apply(wave, event, watches)
            try:
                event = events.get_nowait()
            except queue.Empty:
                return

    def _apply(self, wave: _Wave, event: WatchEvent, watches: dict[str, KindWatch]) -> None:
        if event.type == FAILED and event.error is not None:
            raise event.error
        if event.type == EXPIRED:
            self._resync(wave, event.kind, watches)
            return
        meta = event.obj["metadata"]
        workload = WorkloadRef(event.kind, meta.get("namespace", ""), meta["name"])
        if workload not in wave.latest:
            return
        if event.type == "DELETED":
            wave.stuck = Stuck(workload, "object has been deleted")
            return
        if _newer(event.obj, wave.latest[workload]):
            wave.latest[workload] = event.obj
            key = progress_key(event.obj)
            if key != wave.moved[workload][0]:
                wave.moved[workload] = (key, self.clock())

    def _resync(self, wave: _Wave, kind: str, watches: dict[str, KindWatch]) -> None:
        """410 Gone: re-read the workloads in flight and watch again from now."""
        old = watches[kind]
        old.stop()
        namespaces = {w.namespace for w in wave.latest if w.kind == kind}
        namespace = next(iter(namespaces)) if len(namespaces) == 1 else None
        watch = KindWatch(self.io, self.apps, kind, namespace, old.events)
        version = current_version(self.io, self.apps, kind, namespace)
        for workload in [w for w in wave.latest if w.kind == kind]:
            wave.latest[workload] = self.read(workload)
        watch.start(version)
        watches[kind] = watch


def _cannot_restart(kind: str, obj: Obj) -> str | None:
    spec = obj.get("spec") or {}
    if kind == "Deployment" and spec.get("paused"):
        return "can't restart paused deployment (run rollout resume first)"
    strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
    if kind in ("StatefulSet", "DaemonSet") and strategy != "RollingUpdate":
        return (f"updateStrategy {strategy}: pods change only when deleted, and kubectl cannot "
                "follow the rollout; delete the pods by hand")
    return None


def _newer(candidate: Obj, current: Obj) -> bool:
    """resourceVersions are opaque but etcd's are integers: skip events older than a PATCH reply."""
    new = candidate["metadata"].get("resourceVersion")
    old = current["metadata"].get("resourceVersion")
    if str(new).isdigit() and str(old).isdigit():
        return int(str(new)) >= int(str(old))
    return True
