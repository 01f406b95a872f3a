"""The StatefulSet controller (OrderedReady): pods `<set>-<ordinal>` created one at a time in
order, each only once its predecessors are Ready; a template change replaces pods from the
highest ordinal down, one at a time, honouring `rollingUpdate.partition`, and the status
carries `currentRevision`/`updateRevision` as `kubectl rollout status` expects.
"""

from __future__ import annotations

from meshsim.clock import SimClock
from meshsim.kube.controllers.base import (
    NODE_NAMES,
    POD,
    STATEFULSET,
    active,
    owned_by,
    pod_ready,
    template_hash,
    write_status,
)
from meshsim.kube.controllers.pods import new_pod
from meshsim.kube.store import APIError, Obj, Store

REVISION_LABEL = "controller-revision-hash"
RETRY_AFTER = 5.0


class StatefulSetController:
    def __init__(self, store: Store, clock: SimClock) -> None:
        self.store, self.clock = store, clock

    def sync(self, namespace: str, name: str, instant: bool = False) -> float | None:
        with self.store.lock:
            sts = self.store.find(STATEFULSET, namespace, name)
            if sts is None:
                return None
            update_rev = f"{name}-{template_hash(sts['spec']['template'])}"
            self._delete_finished(sts)
            failed = False
            for _ in range(int(sts["spec"].get("replicas", 1)) + 2 if instant else 1):
                pods = self._pods(sts)
                try:
                    if not self._step(sts, pods, update_rev):
                        break
                except APIError:
                    failed = True
                    break
            write_status(self.store, STATEFULSET, sts, self._status(sts, self._pods(sts),
                                                                      update_rev))
            return RETRY_AFTER if failed else None

    def _delete_finished(self, sts: Obj) -> None:
        """A pod that failed (evicted, say) or succeeded is deleted so that its ordinal can be
        created again under the same name (RecreatingFailedPod / RecreatingTerminatedPod)."""
        for pod in owned_by(self.store, POD, sts):
            if (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
                self._delete(pod)

    def _pods(self, sts: Obj) -> dict[int, Obj]:
        prefix = sts["metadata"]["name"] + "-"
        out = {}
        for pod in active(owned_by(self.store, POD, sts)):
            ordinal = pod["metadata"]["name"][len(prefix):]
            if ordinal.isdigit():
                out[int(ordinal)] = pod
        return out

    def _step(self, sts: Obj, pods: dict[int, Obj], update_rev: str) -> bool:
        """Make at most one change, as the OrderedReady policy allows; False when none."""
        replicas = int(sts["spec"].get("replicas", 1))
        for ordinal in range(replicas):
            if ordinal not in pods:
                self._create(sts, ordinal, update_rev)
                return True
            if not pod_ready(pods[ordinal]):
                return False
        for ordinal in sorted((o for o in pods if o >= replicas), reverse=True):
            self._delete(pods[ordinal])
            return True
        partition = int(((sts["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {})
                        .get("partition", 0))
        strategy = sts["spec"].get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return False
        for ordinal in sorted(pods, reverse=True):
            if ordinal >= partition and _revision(pods[ordinal]) != update_rev:
                self._delete(pods[ordinal])
                return True
        return False

    def _create(self, sts: Obj, ordinal: int, update_rev: str) -> None:
        name = f"{sts['metadata']['name']}-{ordinal}"
        labels = {REVISION_LABEL: update_rev, "statefulset.kubernetes.io/pod-name": name,
                  "apps.kubernetes.io/pod-index": str(ordinal)}
        pod = new_pod(sts["spec"]["template"], sts, name, labels, NODE_NAMES[ordinal % 3])
        pod["spec"].update(hostname=name, subdomain=sts["spec"].get("serviceName", ""))
        self.store.create(POD, pod)

    def _delete(self, pod: Obj) -> None:
        self.store.delete(POD, pod["metadata"]["namespace"], pod["metadata"]["name"])

    def _status(self, sts: Obj, pods: dict[int, Obj], update_rev: str) -> Obj:
        old = sts.get("status") or {}
        current_rev = old.get("currentRevision") or update_rev
        ready = sum(1 for p in pods.values() if pod_ready(p))
        updated = sum(1 for p in pods.values() if _revision(p) == update_rev)
        current = sum(1 for p in pods.values() if _revision(p) == current_rev)
        if updated == len(pods) == ready == int(sts["spec"].get("replicas", 1)):
            current_rev, current = update_rev, updated
        return {"observedGeneration": sts["metadata"].get("generation", 1),
                "replicas": len(pods), "readyReplicas": ready, "availableReplicas": ready,
                "currentReplicas": current, "updatedReplicas": updated,
                "currentRevision": current_rev, "updateRevision": update_rev,
                "collisionCount": 0}


def _revision(pod: Obj) -> str:
    return str((pod["metadata"].get("labels") or {}).get(REVISION_LABEL, ""))
