"""Health of the workloads in scope: replicas, pods not Ready, crash loops, recent restarts.

Statuses are read from `containerStatuses` and `initContainerStatuses` alike, so a native
sidecar (istio-proxy as an init container) crash-looping or restarting counts as a classic one
does. Finished pods are skipped, and a running Job pod is not judged by readiness: once its
app exits it is never Ready again, which is how a Job ends, not a failure.

Restarts are counted since a baseline, normally the phase start. Container `restartCount` is
cumulative, so a pod that existed before the baseline is compared with the count captured then
(`restart_baseline`); without one, a pod created after `since` counts all its restarts and an
older pod counts one if its last termination is after `since` (a lower bound).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from kubernetes.client import AppsV1Api, CoreV1Api

from bot.kube.pods import (
    container_statuses,
    crashlooping,
    owner_of,
    pod_finished,
    pod_ready,
    pod_restarts,
)
from bot.kube.rest import KubeIO, Obj
from bot.kube.watches import PLURALS, list_function
from bot.upgrade.cluster_facts import KINDS, HealthReport, WorkloadHealth, WorkloadRef


@dataclass
class _Acc:
    desired: int = 0
    available: int = 0
    pods: int = 0
    not_ready: list[str] = field(default_factory=list)
    looping: list[str] = field(default_factory=list)
    restarts: int = 0


class Health:
    def __init__(self, io: KubeIO, core: CoreV1Api, apps: AppsV1Api) -> None:
        self.io, self.core, self.apps = io, core, apps

    def restart_baseline(self, namespaces: Iterable[str]) -> dict[str, int]:
        """Pod uid → container restarts now; keep it with the phase to count restarts later."""
        return {pod["metadata"]["uid"]: pod_restarts(pod)
                for namespace in namespaces for pod in self._pods(namespace)}

    def check(self, namespaces: Iterable[str], since: datetime,
              baseline: Mapping[str, int] | None = None) -> HealthReport:
        accs: dict[WorkloadRef, _Acc] = {}
        for namespace in namespaces:
            self._add_workloads(namespace, accs)
            for pod in self._pods(namespace):
                self._add_pod(pod, accs, since, baseline)
        return HealthReport(since, tuple(
            WorkloadHealth(ref, a.desired, a.available, a.pods, tuple(a.not_ready),
                           tuple(a.looping), a.restarts) for ref, a in sorted(accs.items())))

    def _add_workloads(self, namespace: str, accs: dict[WorkloadRef, _Acc]) -> None:
        for kind in KINDS:
            data = self.io.raw("list", PLURALS[kind], list_function(self.apps, kind, namespace))
            for obj in data.get("items") or []:
                desired, available = _replicas(kind, obj)
                accs[WorkloadRef(kind, namespace, obj["metadata"]["name"])] = _Acc(desired,
                                                                                   available)

    @staticmethod
    def _add_pod(pod: Obj, accs: dict[WorkloadRef, _Acc], since: datetime,
                 baseline: Mapping[str, int] | None) -> None:
        if pod["metadata"].get("deletionTimestamp") or pod_finished(pod):
            return
        ref = owner_of(pod)
        acc = accs.get(ref)
        if acc is None:
            acc = accs[ref] = _Acc()
        name = pod["metadata"]["name"]
        acc.pods += 1
        if not pod_ready(pod) and ref.kind != "Job":
            acc.not_ready.append(name)
        acc.looping.extend(f"{name}/{c}" for c in crashlooping(pod))
        acc.restarts += _restarts_since(pod, since, baseline)

    def _pods(self, namespace: str) -> Iterable[Obj]:
        for page in self.io.pages("pods", self.core.list_namespaced_pod, namespace):
            yield from page


def _replicas(kind: str, obj: Obj) -> tuple[int, int]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if kind == "DaemonSet":
        return (int(status.get("desiredNumberScheduled") or 0),
                int(status.get("numberAvailable") or 0))
    replicas = spec.get("replicas")
    desired = int(replicas) if replicas is not None else 1
    available = status.get("availableReplicas")
    if available is None and kind == "StatefulSet":
        available = status.get("readyReplicas")
    return desired, int(available or 0)


def _restarts_since(pod: Obj, since: datetime, baseline: Mapping[str, int] | None) -> int:
    meta = pod["metadata"]
    total = pod_restarts(pod)
    if baseline is not None and meta.get("uid") in baseline:
        return max(0, total - baseline[meta["uid"]])
    created = _parse(meta.get("creationTimestamp"))
    if created is not None and created >= since:
        return total
    return sum(1 for cs in container_statuses(pod) if _last_finished_after(cs, since))


def _last_finished_after(status: Obj, since: datetime) -> bool:
    finished = _parse(((status.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
    return finished is not None and finished >= since


def _parse(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
