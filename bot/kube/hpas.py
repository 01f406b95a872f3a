"""The HPAs of the stable and the canary revision side by side, and how AKS reconciles them.

During a canary AKS mirrors the stable revision's HPA spec onto the canary's, whichever side
was edited, before or during the upgrade (procedure.md): a difference means either AKS has not
reconciled yet or someone edited the canary HPA, which AKS will revert. HPAs: `istiod-<rev>`
in aks-istio-system and `aks-istio-ingressgateway-<mode>-<rev>` in aks-istio-ingress, paired
by name without `-<rev>`.
"""

from __future__ import annotations

from kubernetes.client import AutoscalingV2Api

from bot.kube.rest import KubeIO, Obj
from bot.upgrade.addon import INGRESS_NAMESPACE, ISTIO_NAMESPACE
from bot.upgrade.cluster_facts import HpaPair, HpaSpec


class Hpas:
    def __init__(self, io: KubeIO, autoscaling: AutoscalingV2Api,
                 namespaces: tuple[str, ...] = (ISTIO_NAMESPACE, INGRESS_NAMESPACE)) -> None:
        self.io, self.autoscaling, self.namespaces = io, autoscaling, namespaces

    def compare(self, stable: str, canary: str) -> tuple[HpaPair, ...]:
        """Every control-plane HPA of either revision, paired, with what differs and why."""
        found: dict[tuple[str, str], HpaSpec] = {}
        for namespace in self.namespaces:
            data = self.io.raw("list", "horizontalpodautoscalers",
                               self.autoscaling.list_namespaced_horizontal_pod_autoscaler,
                               namespace)
            for hpa in data.get("items") or []:
                spec = _spec(hpa)
                for revision in (stable, canary):
                    if spec.name.endswith(f"-{revision}"):
                        found[(spec.name.removesuffix(f"-{revision}"), revision)] = spec
        components = sorted({component for component, _ in found})
        return tuple(_pair(c, found.get((c, stable)), found.get((c, canary)), stable)
                     for c in components)


def _spec(hpa: Obj) -> HpaSpec:
    spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
    return HpaSpec(hpa["metadata"]["name"], int(spec.get("minReplicas") or 1),
                   int(spec.get("maxReplicas") or 0),
                   tuple(_metric(m) for m in spec.get("metrics") or ()),
                   int(status.get("currentReplicas") or 0), int(status.get("desiredReplicas") or 0))


def _metric(metric: Obj) -> str:
    resource = metric.get("resource") or {}
    target = resource.get("target") or {}
    if "averageUtilization" in target:
        return f"{resource.get('name', '?')} {target['averageUtilization']}%"
    value = target.get("averageValue") or target.get("value")
    return f"{resource.get('name') or metric.get('type', '?')} {value}"


def _pair(component: str, stable: HpaSpec | None, canary: HpaSpec | None,
          stable_rev: str) -> HpaPair:
    if stable is None or canary is None:
        missing = "stable" if stable is None else "canary"
        return HpaPair(component, stable, canary, (f"no {missing} HPA for {component}",))
    diffs = []
    for label, a, b in (("minReplicas", stable.min_replicas, canary.min_replicas),
                        ("maxReplicas", stable.max_replicas, canary.max_replicas),
                        ("metrics", ", ".join(stable.metrics), ", ".join(canary.metrics))):
        if a != b:
            diffs.append(f"{label}: stable {a}, canary {b}; AKS applies the stable revision's "
                         f"({stable_rev}) value {a} to the canary")
    return HpaPair(component, stable, canary, tuple(diffs))
