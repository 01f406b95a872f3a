"""The add-on's control plane per revision: istiod, ingress gateways, shared MeshConfig.

Names follow the AKS add-on (aks-arm.md §4): istiod pods `app=istiod,istio.io/rev=<rev>` in
aks-istio-system; gateway Deployments `aks-istio-ingressgateway-<mode>-<rev>` in
aks-istio-ingress; the user's MeshConfig `istio-shared-configmap-<rev>`, which must be copied
for the new revision before `upgrade start` and may be deleted after complete or rollback.
"""

from __future__ import annotations

from kubernetes.client import AppsV1Api, CoreV1Api

from bot.kube.pods import pod_ready
from bot.kube.rest import KubeIO, Obj, status_of
from bot.upgrade.addon import GATEWAY_PREFIX, INGRESS_NAMESPACE, ISTIO_NAMESPACE, shared_config
from bot.upgrade.cluster_facts import Component, ConfigCopy, RevisionPlane
from bot.upgrade.errors import GiveUp, RetryLater
from bot.upgrade.rollouts import rollout_state


class ControlPlane:
    def __init__(self, io: KubeIO, core: CoreV1Api, apps: AppsV1Api,
                 istio_namespace: str = ISTIO_NAMESPACE,
                 ingress_namespace: str = INGRESS_NAMESPACE) -> None:
        self.io, self.core, self.apps = io, core, apps
        self.istio_namespace, self.ingress_namespace = istio_namespace, ingress_namespace

    def status(self, revision: str) -> RevisionPlane:
        return RevisionPlane(revision, self.istiod(revision), self.gateways(revision))

    def istiod(self, revision: str) -> Component:
        """istiod pods of the revision that are Ready, against the Deployment's replicas."""
        pods = self.io.raw("list", "pods", self.core.list_namespaced_pod, self.istio_namespace,
                           label_selector=f"app=istiod,istio.io/rev={revision}")
        items = [p for p in pods.get("items") or [] if not p["metadata"].get("deletionTimestamp")]
        ready = sum(pod_ready(p) for p in items)
        name = f"istiod-{revision}"
        desired = self._desired(name) or len(items)
        message = f"{ready}/{desired} istiod pods Ready" if items else "no istiod pods"
        return Component(name, self.istio_namespace, desired, ready, message)

    def gateways(self, revision: str) -> tuple[Component, ...]:
        """Ingress gateway Deployments of the revision, Ready by kubectl's rollout rules."""
        data = self.io.raw("list", "deployments", self.apps.list_namespaced_deployment,
                           self.ingress_namespace)
        out = []
        for dep in data.get("items") or []:
            name = dep["metadata"]["name"]
            if name.startswith(GATEWAY_PREFIX) and name.endswith(f"-{revision}"):
                out.append(_gateway(dep, self.ingress_namespace))
        return tuple(sorted(out, key=lambda c: c.name))

    def _desired(self, name: str) -> int:
        try:
            dep = self.io.raw("get", "deployments", self.apps.read_namespaced_deployment, name,
                              self.istio_namespace)
        except GiveUp as exc:
            if status_of(exc) == 404:
                return 0
            raise
        replicas = (dep.get("spec") or {}).get("replicas")
        return int(replicas if replicas is not None else 1)

    # ---- shared MeshConfig ---------------------------------------------------------------
    def copy_shared_config(self, old: str, new: str) -> ConfigCopy:
        """Create istio-shared-configmap-<new> from <old>'s data; never overwrite one."""
        source, target = shared_config(old), shared_config(new)
        original = self._config(source)
        if original is None:
            return ConfigCopy(source, target, "no-source")
        existing = self._config(target)
        if existing is not None:
            same = (existing.get("data") or {}) == (original.get("data") or {})
            return ConfigCopy(source, target, "unchanged" if same else "differs")
        body: Obj = {"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": target, "namespace": self.istio_namespace,
                                  "labels": dict(original["metadata"].get("labels") or {})},
                     "data": dict(original.get("data") or {})}
        try:
            self.io.call("create", "configmaps", self.core.create_namespaced_config_map,
                         self.istio_namespace, body, field_manager="mesh-upgrade-bot")
        except RetryLater as exc:
            if status_of(exc) == 409:  # AlreadyExists: made meanwhile; look again
                return self.copy_shared_config(old, new)
            raise
        return ConfigCopy(source, target, "created")

    def delete_shared_config(self, revision: str) -> bool:
        """Delete istio-shared-configmap-<revision>; False if it was not there."""
        name = shared_config(revision)
        try:
            self.io.call("delete", "configmaps", self.core.delete_namespaced_config_map, name,
                         self.istio_namespace)
        except GiveUp as exc:
            if status_of(exc) == 404:
                return False
            raise
        return True

    def _config(self, name: str) -> Obj | None:
        try:
            return self.io.raw("get", "configmaps", self.core.read_namespaced_config_map, name,
                               self.istio_namespace)
        except GiveUp as exc:
            if status_of(exc) == 404:
                return None
            raise


def _gateway(dep: Obj, namespace: str) -> Component:
    replicas = (dep.get("spec") or {}).get("replicas")
    desired = int(replicas if replicas is not None else 1)
    available = int((dep.get("status") or {}).get("availableReplicas") or 0)
    state = rollout_state("Deployment", dep)
    ready = available if state.done else min(available, desired - 1)
    return Component(dep["metadata"]["name"], namespace, desired, ready, state.message)
