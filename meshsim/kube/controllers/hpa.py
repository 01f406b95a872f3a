"""A HorizontalPodAutoscaler controller without load: it keeps the target's replicas within
[minReplicas, maxReplicas], reports a steady CPU figure, and applies the add-on's canary rule
(the stable revision's HPA spec wins) through `meshsim.kube.addon.mirror_hpa`.
"""

from __future__ import annotations

from meshsim.clock import SimClock
from meshsim.kube.addon import mirror_hpa
from meshsim.kube.controllers.base import DEPLOYMENT, HPA, replace, write_status
from meshsim.kube.store import Obj, Store

CPU_UTILIZATION = 12  # percent: a quiet cluster


class HPAController:
    def __init__(self, store: Store, clock: SimClock) -> None:
        self.store, self.clock = store, clock

    def sync_target(self, namespace: str, deployment: str, instant: bool = False) -> float | None:
        """A Deployment changed: sync the HPAs that scale it."""
        with self.store.lock:
            for hpa in self.store.list(HPA, namespace):
                if hpa["spec"].get("scaleTargetRef", {}).get("name") == deployment:
                    self.sync(namespace, hpa["metadata"]["name"], instant)
        return None

    def sync(self, namespace: str, name: str, instant: bool = False) -> float | None:
        with self.store.lock:
            hpa = self.store.find(HPA, namespace, name)
            if hpa is None:
                return None
            mirror_hpa(self.store, hpa)
            hpa = self.store.get(HPA, namespace, name)
            ref = hpa["spec"].get("scaleTargetRef") or {}
            target = self.store.find(DEPLOYMENT, namespace, ref.get("name", ""))
            if target is not None and ref.get("kind") == "Deployment":
                target = self._clamp(hpa, target)
            write_status(self.store, HPA, hpa, self._status(hpa, target))
            return None

    def _clamp(self, hpa: Obj, target: Obj) -> Obj:
        low, high = int(hpa["spec"].get("minReplicas", 1)), int(hpa["spec"]["maxReplicas"])
        replicas = int(target["spec"].get("replicas", 1))
        wanted = min(max(replicas, low), high)
        if wanted == replicas:
            return target
        return replace(self.store, DEPLOYMENT, dict(target, spec=dict(target["spec"],
                                                                      replicas=wanted)))

    def _status(self, hpa: Obj, target: Obj | None) -> Obj:
        now = (hpa.get("status") or {}).get("lastScaleTime") or self.clock.rfc3339()
        if target is None:
            return {"currentReplicas": 0, "desiredReplicas": 0, "conditions": [
                {"type": "AbleToScale", "status": "False", "reason": "FailedGetScale",
                 "message": "the HPA controller was unable to get the target's current scale",
                 "lastTransitionTime": now}]}
        replicas = int(target["spec"].get("replicas", 1))
        limited = replicas in (hpa["spec"].get("minReplicas", 1), hpa["spec"]["maxReplicas"])
        return {
            "currentReplicas": int((target.get("status") or {}).get("replicas", 0)),
            "desiredReplicas": replicas, "lastScaleTime": now,
            "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {
                "averageUtilization": CPU_UTILIZATION, "averageValue": "3m"}}}],
            "conditions": [
                {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale",
                 "message": "recommended size matches current size", "lastTransitionTime": now},
                {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound",
                 "message": "the HPA was able to successfully calculate a replica count from cpu "
                            "resource utilization (percentage of request)",
                 "lastTransitionTime": now},
                {"type": "ScalingLimited", "status": "True" if limited else "False",
                 "reason": "TooFewReplicas" if limited else "DesiredWithinRange",
                 "message": "the desired replica count is less than the minimum replica count"
                 if limited else "the desired count is within the acceptable range",
                 "lastTransitionTime": now}]}
