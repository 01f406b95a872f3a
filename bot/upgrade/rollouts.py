"""kubectl's `rollout status` rules for Deployments, StatefulSets and DaemonSets (pure).

Transcribed from kubectl `pkg/polymorphichelpers/rollout_status.go` (istio-kube.md §5), applied
to the workload as raw JSON. `progress_key` is what changes while a rollout moves, so a caller
can tell "no progress for N seconds" from "slow but moving".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
_ONLY_ROLLING = "rollout status is only available for RollingUpdate strategy type"


@dataclass(frozen=True)
class RolloutState:
    done: bool
    message: str
    failed: bool = False


def rollout_state(kind: str, obj: Obj) -> RolloutState:
    if kind == "Deployment":
        return _deployment(obj)
    if kind == "StatefulSet":
        return _statefulset(obj)
    if kind == "DaemonSet":
        return _daemonset(obj)
    return RolloutState(False, f"no rollout status for kind {kind}", failed=True)


def progress_key(obj: Obj) -> tuple[Any, ...]:
    status = obj.get("status") or {}
    return tuple(status.get(k) for k in (
        "observedGeneration", "replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
        "updatedNumberScheduled", "numberAvailable", "numberReady", "currentRevision"))


def _observed(obj: Obj) -> bool:
    generation = int(obj["metadata"].get("generation") or 0)
    return generation <= int((obj.get("status") or {}).get("observedGeneration") or 0)


def _deployment(obj: Obj) -> RolloutState:
    name, spec, status = obj["metadata"]["name"], obj.get("spec") or {}, obj.get("status") or {}
    if not _observed(obj):
        return RolloutState(False, "Waiting for deployment spec update to be observed...")
    for cond in status.get("conditions") or ():
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return RolloutState(False, f'deployment "{name}" exceeded its progress deadline', True)
    want = spec.get("replicas")
    updated = int(status.get("updatedReplicas") or 0)
    if want is not None and updated < int(want):
        return RolloutState(False, f"{updated} out of {want} new replicas have been updated...")
    replicas = int(status.get("replicas") or 0)
    if replicas > updated:
        return RolloutState(False, f"{replicas - updated} old replicas are pending termination...")
    available = int(status.get("availableReplicas") or 0)
    if available < updated:
        return RolloutState(False, f"{available} of {updated} updated replicas are available...")
    return RolloutState(True, f'deployment "{name}" successfully rolled out')


def _statefulset(obj: Obj) -> RolloutState:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return RolloutState(False, _ONLY_ROLLING, True)
    observed = int(status.get("observedGeneration") or 0)
    if observed == 0 or int(obj["metadata"].get("generation") or 0) > observed:
        return RolloutState(False, "Waiting for statefulset spec update to be observed...")
    replicas = spec.get("replicas")
    want = int(replicas) if replicas is not None else 1
    ready = int(status.get("readyReplicas") or 0)
    if ready < want:
        return RolloutState(False, f"Waiting for {want - ready} pods to be ready...")
    rolling = strategy.get("rollingUpdate")
    if rolling is not None:
        partition = int(rolling.get("partition") or 0)
        updated = int(status.get("updatedReplicas") or 0)
        if updated < want - partition:
            return RolloutState(False, f"Waiting for partitioned roll out to finish: {updated} out "
                                f"of {want - partition} new pods have been updated...")
        return RolloutState(True, f"partitioned roll out complete: {updated} new pods have been "
                            "updated...")
    if status.get("updateRevision") != status.get("currentRevision"):
        return RolloutState(False, "waiting for statefulset rolling update to complete "
                            f"{int(status.get('updatedReplicas') or 0)} pods at revision "
                            f"{status.get('updateRevision')}...")
    return RolloutState(True, "statefulset rolling update complete "
                        f"{int(status.get('currentReplicas') or 0)} pods at revision "
                        f"{status.get('currentRevision')}...")


def _daemonset(obj: Obj) -> RolloutState:
    name, spec, status = obj["metadata"]["name"], obj.get("spec") or {}, obj.get("status") or {}
    if (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") != "RollingUpdate":
        return RolloutState(False, _ONLY_ROLLING, True)
    if not _observed(obj):
        return RolloutState(False, "Waiting for daemon set spec update to be observed...")
    desired = int(status.get("desiredNumberScheduled") or 0)
    updated = int(status.get("updatedNumberScheduled") or 0)
    if updated < desired:
        return RolloutState(False, f'Waiting for daemon set "{name}" rollout to finish: {updated} '
                            f"out of {desired} new pods have been updated...")
    available = int(status.get("numberAvailable") or 0)
    if available < desired:
        return RolloutState(False, f'Waiting for daemon set "{name}" rollout to finish: '
                            f"{available} of {desired} updated pods are available...")
    return RolloutState(True, f'daemon set "{name}" successfully rolled out')
