"""Who serves the mesh's requests right now: one pass over the cluster's pods, grouped by the
workload Istio names them after, with how many Ready pods each sidecar revision has.

Istio's workload name for a pod (istio/pkg/kube `workloadNameAndType`) is its ReplicaSet's
name without the `-<pod-template-hash>` suffix (the Deployment), or its StatefulSet or
DaemonSet; a pod's revision is the one its `sidecar.istio.io/status` annotation names (an
ingress gateway's, its `istio.io/rev` label).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from meshsim.kube.addon_objects import INGRESS_NS, SYSTEM_NS
from meshsim.kube.inject import STATUS
from meshsim.kube.resources import by_kind
from meshsim.kube.store import Obj, Store

POD, SERVICE = by_kind("Pod"), by_kind("Service")
KINDS = {"Deployment": by_kind("Deployment"), "StatefulSet": by_kind("StatefulSet"),
         "DaemonSet": by_kind("DaemonSet")}
WorkloadKey = tuple[str, str]  # (namespace, workload name)


@dataclass
class Workload:
    """One workload's identity as Istio's labels show it, and its Ready pods by revision."""

    namespace: str
    name: str
    kind: str
    app: str
    version: str
    canonical_service: str
    canonical_revision: str
    service_account: str
    meshed: bool  # its pods carry a sidecar (an ingress gateway is a proxy, not meshed)
    ready: dict[str, int] = field(default_factory=dict)  # revision -> Ready, Running pods
    pod_labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def ready_pods(self) -> int:
        return sum(self.ready.values())

    def shares(self) -> dict[str, float]:
        total = self.ready_pods
        return {rev: n / total for rev, n in self.ready.items()} if total else {}

    @property
    def principal(self) -> str:
        return f"spiffe://cluster.local/ns/{self.namespace}/sa/{self.service_account}"


def take(store: Store) -> dict[WorkloadKey, Workload]:
    """Every meshed workload and ingress gateway with its pods (Ready or not)."""
    found: dict[WorkloadKey, Workload] = {}
    for pod in store.list(POD):
        meta = pod["metadata"]
        if meta["namespace"] == SYSTEM_NS:
            continue
        revision = _revision(meta)
        owner = _owner(meta)
        if revision is None or owner is None:
            continue
        key = (meta["namespace"], owner[1])
        workload = found.get(key)
        if workload is None:
            workload = found[key] = _workload(pod, owner)
        if _ready(pod):
            workload.ready[revision] = workload.ready.get(revision, 0) + 1
    return found


def _revision(meta: Obj) -> str | None:
    if meta["namespace"] == INGRESS_NS:
        return (meta.get("labels") or {}).get("istio.io/rev")
    return _status_revision((meta.get("annotations") or {}).get(STATUS))


@functools.lru_cache(maxsize=256)
def _status_revision(status: str | None) -> str | None:
    """Parsed once per distinct annotation: thousands of pods share a handful of them."""
    if not status:
        return None
    try:
        revision = orjson.loads(status).get("revision")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return str(revision) if revision else None


def _owner(meta: Obj) -> tuple[str, str] | None:
    for ref in meta.get("ownerReferences") or ():
        if not ref.get("controller"):
            continue
        if ref["kind"] == "ReplicaSet":
            suffix = f"-{(meta.get('labels') or {}).get('pod-template-hash', '')}"
            name = str(ref["name"])
            return "Deployment", name.removesuffix(suffix) if suffix != "-" else name
        if ref["kind"] in ("StatefulSet", "DaemonSet"):
            return str(ref["kind"]), str(ref["name"])
    return None


def _ready(pod: Obj) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in status.get("conditions") or ())


def _workload(pod: Obj, owner: tuple[str, str]) -> Workload:
    meta = pod["metadata"]
    labels = meta.get("labels") or {}
    app = labels.get("app.kubernetes.io/name") or labels.get("app") or ""
    version = labels.get("app.kubernetes.io/version") or labels.get("version") or ""
    return Workload(
        namespace=meta["namespace"], name=owner[1], kind=owner[0], app=app or "unknown",
        version=version or "unknown",
        canonical_service=labels.get("service.istio.io/canonical-name") or app or owner[1],
        canonical_revision=labels.get("service.istio.io/canonical-revision") or "latest",
        service_account=str((pod.get("spec") or {}).get("serviceAccountName") or "default"),
        meshed=meta["namespace"] != INGRESS_NS, pod_labels=labels)


def notes(store: Store, workload: Workload) -> dict[str, str]:
    """The workload's annotations over its pod template's (the workload's win)."""
    obj = store.find(KINDS[workload.kind], workload.namespace, workload.name)
    if obj is None:
        return {}
    template = ((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}
    return {**(template.get("annotations") or {}), **(obj["metadata"].get("annotations") or {})}


def service(store: Store, workload: Workload) -> str | None:
    """The name of the first Service (by name) in the workload's namespace selecting its pods."""
    for svc in store.list(SERVICE, workload.namespace):
        selector = (svc.get("spec") or {}).get("selector") or {}
        if selector and all(workload.pod_labels.get(k) == v for k, v in selector.items()):
            return str(svc["metadata"]["name"])
    return None
