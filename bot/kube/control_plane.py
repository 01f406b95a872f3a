"""The add-on's control plane per revision: istiod, ingress and egress gateways, the pods
still there, and the shared MeshConfig.

Names follow the AKS add-on (aks-arm.md §4): istiod pods `app=istiod,istio.io/rev=<rev>` in
aks-istio-system; gateway Deployments `aks-istio-ingressgateway-<mode>-<rev>` in
aks-istio-ingress and `<egress name>-<rev>` in the egress namespace (aks-istio-egress unless
the user chose another), their pods labelled `istio.io/rev=<rev>`; the user's MeshConfig
`istio-shared-configmap-<rev>`, which must be copied for the new revision before `upgrade
start` and may be deleted after complete or rollback.
"""

from __future__ import annotations

from kubernetes.client import AppsV1Api, CoreV1Api

from bot.kube.pods import pod_ready
from bot.kube.rest import KubeIO, Obj, status_of
from bot.upgrade.addon import (
    EGRESS_NAMESPACE,
    GATEWAY_PREFIX,
    INGRESS_NAMESPACE,
    ISTIO_NAMESPACE,
    shared_config,
)
from bot.upgrade.cluster_facts import Component, ConfigCopy, RevisionPlane
from bot.upgrade.errors import GiveUp, RetryLater
from bot.upgrade.rollouts import rollout_state


class ControlPlane:
    def __init__(self, io: KubeIO, core: CoreV1Api, apps: AppsV1Api,
                 istio_namespace: str = ISTIO_NAMESPACE,
                 ingress_namespace: str = INGRESS_NAMESPACE,
                 egress_namespace: str = EGRESS_NAMESPACE) -> None:
        self.io, self.core, self.apps = io, core, apps
        self.istio_namespace, self.ingress_namespace = istio_namespace, ingress_namespace
        self.egress_namespace = egress_namespace

    def status(self, revision: str) -> RevisionPlane:
        """istiod, the gateways, and every pod of the revision's plane still there (also
        terminating ones: after complete or rollback they must be gone)."""
        istiod_pods = self._pods(self.istio_namespace, f"app=istiod,istio.io/rev={revision}")
        pods = [*istiod_pods, *(p for namespace in (self.ingress_namespace, self.egress_namespace)
                                for p in self._pods(namespace, f"istio.io/rev={revision}"))]
        remaining = tuple(f"{p['metadata'].get('namespace', '')}/{p['metadata']['name']}"
                          for p in pods)
        return RevisionPlane(revision, self._istiod(revision, istiod_pods),
                             self.gateways(revision), remaining)

    def _pods(self, namespace: str, selector: str) -> list[Obj]:
        data = self.io.raw("list", "pods", self.core.list_namespaced_pod, namespace,
                           label_selector=selector)
        return list(data.get("items") or [])

    def _istiod(self, revision: str, pods: list[Obj]) -> Component:
        """istiod pods of the revision that are Ready, against the Deployment's replicas."""
        items = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        ready = sum(pod_ready(p) for p in items)
        name = f"istiod-{revision}"
        desired = self._desired(name) or len(items)
        message = f"{ready}/{desired} istiod pods Ready" if items else "no istiod pods"
        return Component(name, self.istio_namespace, desired, ready, message)

    def gateways(self, revision: str) -> tuple[Component, ...]:
        """Ingress and egress gateway Deployments of the revision, Ready by kubectl's rollout
        rules (the egress namespace holds only egress gateways, named `<name>-<rev>`)."""
        out = [_gateway(dep, self.ingress_namespace)
               for dep in self._deployments(self.ingress_namespace)
               if dep["metadata"]["name"].startswith(GATEWAY_PREFIX)
               and dep["metadata"]["name"].endswith(f"-{revision}")]
        out += [_gateway(dep, self.egress_namespace)
                for dep in self._deployments(self.egress_namespace)
                if dep["metadata"]["name"].endswith(f"-{revision}")]
        return tuple(sorted(out, key=lambda c: (c.namespace, c.name)))

    def _deployments(self, namespace: str) -> list[Obj]:
        data = self.io.raw("list", "deployments", self.apps.list_namespaced_deployment,
                           namespace)
        return list(data.get("items") or [])

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
