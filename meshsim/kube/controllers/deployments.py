"""The Deployment controller (pkg/controller/deployment): one ReplicaSet per pod template,
rolling updates in waves bounded by maxSurge/maxUnavailable, Recreate, pause, scaling, history
cleanup, and the `status` fields and conditions that `kubectl rollout status` reads
(istio-kube.md §5), including `ProgressDeadlineExceeded` when no progress is made in time.
"""

from __future__ import annotations

from meshsim.clock import SimClock
from meshsim.kube.controllers.base import (
    DEPLOYMENT,
    REPLICASET,
    clone,
    condition,
    find_condition,
    int_or_percent,
    owned_by,
    owner_ref,
    parse_time,
    replace,
    set_condition,
    template_hash,
    write_status,
)
from meshsim.kube.store import Obj, Store

REVISION = "deployment.kubernetes.io/revision"
HASH = "pod-template-hash"


def spec_replicas(rs: Obj | None) -> int:
    return int(rs["spec"].get("replicas", 0)) if rs else 0


def available(rs: Obj | None) -> int:
    """Available pods, never more than the ReplicaSet is scaled to: its status may still
    count pods of a scale-down it has not synced yet, which would over-spend the budget."""
    if rs is None:
        return 0
    return min(int((rs.get("status") or {}).get("availableReplicas", 0)), spec_replicas(rs))


def revision_of(obj: Obj) -> int:
    return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0") or 0)


def limits(d: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) resolved against spec.replicas, never both zero."""
    replicas = int(d["spec"].get("replicas", 1))
    rolling = (d["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    surge = int_or_percent(rolling.get("maxSurge", "25%"), replicas, True)
    unavailable = int_or_percent(rolling.get("maxUnavailable", "25%"), replicas, False)
    return surge, (1 if surge == 0 and unavailable == 0 else unavailable)


class DeploymentController:
    def __init__(self, store: Store, clock: SimClock) -> None:
        self.store, self.clock = store, clock

    def sync(self, namespace: str, name: str, instant: bool = False) -> float | None:
        with self.store.lock:
            d = self.store.find(DEPLOYMENT, namespace, name)
            if d is None:
                return None
            new, olds, created = self._replica_sets(d)
            if not d["spec"].get("paused") and new is not None:
                if (d["spec"].get("strategy") or {}).get("type") == "Recreate":
                    self._recreate(d, new, olds)
                else:
                    self._rolling(d, new, olds)
                self._cleanup(d)
                new, olds, _ = self._replica_sets(d)
            d = self._annotate(d, new)
            status = self._status(d, new, olds, created)
            write_status(self.store, DEPLOYMENT, d, status)
            return None if instant else self._deadline_wait(d, status)

    # ---- replica sets ------------------------------------------------------------------
    def _replica_sets(self, d: Obj) -> tuple[Obj | None, list[Obj], bool]:
        rss = owned_by(self.store, REPLICASET, d)
        wanted = template_hash(d["spec"]["template"])
        new = next((rs for rs in rss if (rs["metadata"].get("labels") or {}).get(HASH) == wanted),
                   None)
        olds = sorted((rs for rs in rss if rs is not new),
                      key=lambda rs: rs["metadata"].get("creationTimestamp", ""))
        created = False
        if new is None and not d["spec"].get("paused"):
            new, created = self._create(d, wanted, olds), True
        elif new is not None and olds and revision_of(new) <= max(map(revision_of, olds)):
            new = self._set_revision(new, max(map(revision_of, olds)) + 1)
        return new, olds, created

    def _create(self, d: Obj, wanted: str, olds: list[Obj]) -> Obj:
        template = clone(d["spec"]["template"])
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH] = wanted
        selector = clone(d["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH] = wanted
        replicas = int(d["spec"].get("replicas", 1))
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
            "name": f"{d['metadata']['name']}-{wanted}", "namespace": d["metadata"]["namespace"],
            "labels": dict(template["metadata"]["labels"]),
            "annotations": {"deployment.kubernetes.io/desired-replicas": str(replicas),
                            "deployment.kubernetes.io/max-replicas": str(replicas + limits(d)[0]),
                            REVISION: str(max(map(revision_of, olds), default=0) + 1)},
            "ownerReferences": [owner_ref(d)]},
            "spec": {"replicas": 0, "minReadySeconds": d["spec"].get("minReadySeconds", 0),
                     "selector": selector, "template": template}}
        return self.store.create(REPLICASET, rs)

    def _set_revision(self, rs: Obj, revision: int) -> Obj:
        meta = dict(rs["metadata"])
        meta["annotations"] = {**(meta.get("annotations") or {}), REVISION: str(revision)}
        return replace(self.store, REPLICASET, dict(rs, metadata=meta))

    def _scale(self, d: Obj, rs: Obj, replicas: int) -> Obj:
        if spec_replicas(rs) == replicas:
            return rs
        meta = dict(rs["metadata"])
        meta["annotations"] = {**(meta.get("annotations") or {}),
                               "deployment.kubernetes.io/desired-replicas":
                                   str(d["spec"].get("replicas", 1))}
        return replace(self.store, REPLICASET,
                       dict(rs, metadata=meta, spec=dict(rs["spec"], replicas=replicas)))

    # ---- strategies --------------------------------------------------------------------
    def _rolling(self, d: Obj, new: Obj, olds: list[Obj]) -> None:
        replicas = int(d["spec"].get("replicas", 1))
        surge, max_unavailable = limits(d)
        total = sum(map(spec_replicas, olds)) + spec_replicas(new)
        count = spec_replicas(new)
        if count > replicas:
            target = replicas
        else:
            target = count + max(min(replicas + surge - total, replicas - count), 0)
        new = self._scale(d, new, target)
        if not any(map(spec_replicas, olds)):
            return
        min_available = replicas - max_unavailable
        all_count = sum(map(spec_replicas, olds)) + spec_replicas(new)
        budget = all_count - min_available - (spec_replicas(new) - available(new))
        if budget <= 0:
            return
        olds = self._cleanup_unhealthy(d, olds, budget)
        avail = sum(map(available, olds)) + available(new)
        self._scale_down(d, olds, avail - min_available)

    def _cleanup_unhealthy(self, d: Obj, olds: list[Obj], budget: int) -> list[Obj]:
        out = []
        for rs in olds:
            unhealthy = spec_replicas(rs) - available(rs)
            if budget > 0 and unhealthy > 0:
                cut = min(budget, unhealthy)
                rs, budget = self._scale(d, rs, spec_replicas(rs) - cut), budget - cut
            out.append(rs)
        return out

    def _scale_down(self, d: Obj, olds: list[Obj], budget: int) -> None:
        for rs in olds:
            if budget <= 0:
                return
            cut = min(spec_replicas(rs), budget)
            if cut:
                self._scale(d, rs, spec_replicas(rs) - cut)
                budget -= cut

    def _recreate(self, d: Obj, new: Obj, olds: list[Obj]) -> None:
        for rs in olds:
            self._scale(d, rs, 0)
        if not any(int((rs.get("status") or {}).get("replicas", 0)) for rs in olds):
            self._scale(d, new, int(d["spec"].get("replicas", 1)))

    def _cleanup(self, d: Obj) -> None:
        limit = int(d["spec"].get("revisionHistoryLimit", 10))
        rss = owned_by(self.store, REPLICASET, d)
        wanted = template_hash(d["spec"]["template"])
        idle = sorted((rs for rs in rss if not spec_replicas(rs)
                       and not (rs.get("status") or {}).get("replicas")
                       and (rs["metadata"].get("labels") or {}).get(HASH) != wanted),
                      key=revision_of)
        for rs in idle[: max(len(idle) - limit, 0)]:
            self.store.delete(REPLICASET, rs["metadata"]["namespace"], rs["metadata"]["name"])

    def _annotate(self, d: Obj, new: Obj | None) -> Obj:
        if new is None or (d["metadata"].get("annotations") or {}).get(REVISION) == str(
                revision_of(new)):
            return d
        meta = dict(d["metadata"])
        meta["annotations"] = {**(meta.get("annotations") or {}), REVISION: str(revision_of(new))}
        return replace(self.store, DEPLOYMENT, dict(d, metadata=meta))

    # ---- status ------------------------------------------------------------------------
    def _status(self, d: Obj, new: Obj | None, olds: list[Obj], created: bool) -> Obj:
        rss = [*olds, *([new] if new else [])]
        st = [rs.get("status") or {} for rs in rss]
        counts = {
            "replicas": sum(int(s.get("replicas", 0)) for s in st),
            "updatedReplicas": int(((new or {}).get("status") or {}).get("replicas", 0)),
            "readyReplicas": sum(int(s.get("readyReplicas", 0)) for s in st),
            "availableReplicas": sum(int(s.get("availableReplicas", 0)) for s in st)}
        counts["unavailableReplicas"] = max(sum(map(spec_replicas, rss))
                                            - counts["availableReplicas"], 0)
        status: Obj = {"observedGeneration": d["metadata"].get("generation", 1)}
        status.update({k: v for k, v in counts.items() if v})
        status["conditions"] = self._conditions(d, new, rss, status, created)
        return status

    def _conditions(self, d: Obj, new: Obj | None, rss: list[Obj], status: Obj,
                    created: bool) -> list[Obj]:
        now, old = self.clock.rfc3339(), d.get("status") or {}
        conditions = list(old.get("conditions") or [])
        replicas = int(d["spec"].get("replicas", 1))
        if status.get("availableReplicas", 0) >= replicas - limits(d)[1]:
            cond = condition("Available", "True", "MinimumReplicasAvailable",
                             "Deployment has minimum availability.", now)
        else:
            cond = condition("Available", "False", "MinimumReplicasUnavailable",
                             "Deployment does not have minimum availability.", now)
        conditions = set_condition(conditions, cond)
        conditions = self._replica_failure(conditions, rss)
        progressing = self._progressing(d, new, old, status, created, conditions, now)
        if progressing is not None:
            conditions = [c for c in conditions if c["type"] != "Progressing"] + [progressing] \
                if progressing["reason"] == "ReplicaSetUpdated" \
                else set_condition(conditions, progressing)
        return conditions

    @staticmethod
    def _replica_failure(conditions: list[Obj], rss: list[Obj]) -> list[Obj]:
        failed = next((c for rs in rss for c in (rs.get("status") or {}).get("conditions") or ()
                       if c["type"] == "ReplicaFailure"), None)
        if failed is None:
            return [c for c in conditions if c["type"] != "ReplicaFailure"]
        return set_condition(conditions, condition("ReplicaFailure", "True", failed["reason"],
                                                   failed["message"], failed["lastTransitionTime"]))

    def _progressing(self, d: Obj, new: Obj | None, old: Obj, status: Obj, created: bool,
                     conditions: list[Obj], now: str) -> Obj | None:
        rs_name = f'ReplicaSet "{new["metadata"]["name"]}"' if new else \
            f'Deployment "{d["metadata"]["name"]}"'
        current = next((c for c in conditions if c["type"] == "Progressing"), None)
        if d["spec"].get("paused"):
            return condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused",
                             now)
        if created and new is not None:
            return condition("Progressing", "True", "NewReplicaSetCreated",
                             f'Created new replica set "{new["metadata"]["name"]}"', now)
        if complete(d, status):
            return condition("Progressing", "True", "NewReplicaSetAvailable",
                             f"{rs_name} has successfully progressed.", now)
        if made_progress(old, status):
            cond = condition("Progressing", "True", "ReplicaSetUpdated",
                             f"{rs_name} is progressing.", now)
            if current is not None and current["status"] == "True":
                cond["lastTransitionTime"] = current["lastTransitionTime"]
            return cond
        if self._timed_out(d, current):
            return condition("Progressing", "False", "ProgressDeadlineExceeded",
                             f"{rs_name} has timed out progressing.", now)
        return None

    def _timed_out(self, d: Obj, current: Obj | None) -> bool:
        if current is None or current.get("reason") == "NewReplicaSetAvailable":
            return False
        if current.get("reason") == "ProgressDeadlineExceeded":
            return True
        deadline = int(d["spec"].get("progressDeadlineSeconds", 600))
        return parse_time(current["lastUpdateTime"]) + deadline < self.clock.now()

    def _deadline_wait(self, d: Obj, status: Obj) -> float | None:
        cond = find_condition({"status": status}, "Progressing")
        if d["spec"].get("paused") or complete(d, status) or cond is None \
                or cond.get("reason") == "ProgressDeadlineExceeded":
            return None
        deadline = int(d["spec"].get("progressDeadlineSeconds", 600))
        return max(parse_time(cond["lastUpdateTime"]) + deadline - self.clock.now(), 0) + 1


def complete(d: Obj, status: Obj) -> bool:
    replicas = int(d["spec"].get("replicas", 1))
    counts = [int(status.get(k, 0)) for k in ("updatedReplicas", "replicas", "availableReplicas")]
    observed = int(status.get("observedGeneration", 0))
    return counts == [replicas] * 3 and observed >= int(d["metadata"].get("generation", 1))


def made_progress(old: Obj, new: Obj) -> bool:
    """util.DeploymentProgressing: more updated/ready/available pods, or fewer old ones."""
    def get(s: Obj, key: str) -> int:
        return int(s.get(key, 0))
    return (get(new, "updatedReplicas") > get(old, "updatedReplicas")
            or get(new, "replicas") - get(new, "updatedReplicas")
            < get(old, "replicas") - get(old, "updatedReplicas")
            or get(new, "readyReplicas") > get(old, "readyReplicas")
            or get(new, "availableReplicas") > get(old, "availableReplicas"))
