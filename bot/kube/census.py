"""Sidecar census: which revision, proxy version and sidecar mode every running pod has, and
which pods drifted.

A pod's injected revision is `revision` in its `sidecar.istio.io/status` annotation (never a
tag name), its proxy is the `istio-proxy` container or a native-sidecar init container with
`restartPolicy: Always` (istio-kube.md §3). A pod whose proxy image differs from its
revision's injector image (`istio-sidecar-injector-<rev>` values `global.proxy.image`, §4)
needs a restart: patch drift. Only pods that run or will run (Pending, Running) are counted;
finished ones (Succeeded, Failed: a completed Job's, an evicted one) keep their annotation
but use no control plane, so they are tallied apart. Pods are streamed 500 per page as raw
JSON (`bot/kube/rest.py`) so that 20,000 pods are counted without 20,000 model objects.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from kubernetes.client import CoreV1Api

from bot.kube.pods import app_exited, owner_of, pod_finished, pod_ready, pod_restarts, proxy_of
from bot.kube.rest import KubeIO, Obj, paused_gc
from bot.upgrade.addon import ISTIO_NAMESPACE
from bot.upgrade.cluster_facts import (
    Census,
    FinishedPods,
    PodSidecar,
    WorkloadRef,
    WorkloadSidecars,
)
from bot.upgrade.sidecar_mode import SidecarMode

STATUS_ANNOTATION = "sidecar.istio.io/status"
INJECTOR_PREFIX = "istio-sidecar-injector-"


def proxy_version(image: str) -> str:
    """`…/proxyv2:1.22.5-distroless` → `1.22.5`; the tag itself if it has no variant."""
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else image
    return tag.split("-", 1)[0].split("@", 1)[0]


def injector_image(values: Obj) -> str | None:
    """The proxy image new pods get, from an injector configmap's `values` (istio-kube.md §4)."""
    glob = values.get("global") or {}
    image = (glob.get("proxy") or {}).get("image") or "proxyv2"
    if "/" in image:
        return str(image)
    hub, tag, variant = glob.get("hub"), str(glob.get("tag") or ""), glob.get("variant") or ""
    if not hub or not tag:
        return None
    suffix = f"-{variant}" if variant and variant != "default" and not tag.endswith(variant) else ""
    return f"{hub}/{image}:{tag}{suffix}"


@dataclass
class _Tally:
    images: Mapping[str, str]
    pods: int = 0
    injected: int = 0
    pages: int = 0
    by_revision: Counter[str] = field(default_factory=Counter)
    by_version: Counter[str] = field(default_factory=Counter)
    by_namespace: dict[str, Counter[str]] = field(default_factory=dict)
    workloads: dict[WorkloadRef, list[Any]] = field(default_factory=dict)
    drift: list[PodSidecar] = field(default_factory=list)
    revisions: dict[str, str | None] = field(default_factory=dict)  # status JSON -> revision
    versions: dict[str, str] = field(default_factory=dict)  # image -> version
    modes: dict[str, Counter[str]] = field(default_factory=dict)  # revision -> mode -> pods
    revision_versions: dict[str, Counter[str]] = field(default_factory=dict)  # rev -> version
    finished: dict[tuple[str, str, str], Counter[str]] = field(default_factory=dict)

    def add(self, pod: Obj) -> None:
        meta = pod["metadata"]
        revision = self._revision(meta.get("annotations"))
        if pod_finished(pod):
            if revision:
                self._finished(pod, revision)
            return
        image, mode = proxy_of(pod.get("spec") or {}) if revision else (None, None)
        version = self._version(image) if image else ""
        workload, ready, restarts = owner_of(pod), pod_ready(pod), pod_restarts(pod)
        namespace = meta.get("namespace", "")
        self.pods += 1
        counts = self.by_namespace.get(namespace)
        if counts is None:
            counts = self.by_namespace[namespace] = Counter()
        counts[revision or ""] += 1
        drifted = bool(revision and image and self.images.get(revision, image) != image)
        if revision:
            self.injected += 1
            self.by_revision[revision] += 1
            self.by_version[version] += 1
            self.revision_versions.setdefault(revision, Counter())[version] += 1
            if mode is not None:
                self.modes.setdefault(revision, Counter())[mode] += 1
        if drifted:
            self.drift.append(PodSidecar(namespace, meta["name"], workload, revision, image,
                                         ready, restarts))
        acc = self.workloads.get(workload)
        if acc is None:
            acc = self.workloads[workload] = [0, 0, 0, Counter(), Counter(), 0, 0, 0]
        acc[0] += 1
        acc[1] += ready
        acc[2] += restarts
        acc[3][revision or ""] += 1
        if version:
            acc[4][version] += 1
        acc[5] += drifted
        acc[6] += mode is SidecarMode.NATIVE
        acc[7] += mode is SidecarMode.CLASSIC and workload.kind == "Job" and app_exited(pod)

    def _finished(self, pod: Obj, revision: str) -> None:
        """(revision, Job/Evicted/"", phase) -> namespace -> pods."""
        status = pod.get("status") or {}
        kind = "Job" if owner_of(pod).kind == "Job" else str(status.get("reason") or "")
        key = (revision, kind if kind in ("Job", "Evicted") else "", str(status.get("phase")))
        self.finished.setdefault(key, Counter())[pod["metadata"].get("namespace", "")] += 1

    def _revision(self, annotations: Obj | None) -> str | None:
        raw = annotations.get(STATUS_ANNOTATION) if annotations else None
        if raw is None:
            return None
        if raw not in self.revisions:
            try:
                status = orjson.loads(raw)
                self.revisions[raw] = str(status.get("revision") or "default")
            except (orjson.JSONDecodeError, AttributeError):
                self.revisions[raw] = None
        return self.revisions[raw]

    def _version(self, image: str) -> str:
        version = self.versions.get(image)
        if version is None:
            version = self.versions[image] = proxy_version(image)
        return version

    def result(self) -> Census:
        workloads = {ref: WorkloadSidecars(ref, a[0], a[1], a[2], dict(a[3]), dict(a[4]), a[5],
                                           a[6], a[7])
                     for ref, a in sorted(self.workloads.items())}
        namespaces = {ns: dict(c) for ns, c in sorted(self.by_namespace.items())}
        finished = tuple(FinishedPods(revision, kind, phase, counts.total(), tuple(sorted(counts)))
                         for (revision, kind, phase), counts in sorted(self.finished.items()))
        return Census(self.pods, self.injected, dict(self.by_revision), dict(self.by_version),
                      namespaces, workloads, dict(self.images), tuple(self.drift), self.pages,
                      finished, {r: dict(c) for r, c in sorted(self.modes.items())},
                      {r: dict(c) for r, c in sorted(self.revision_versions.items())})


class CensusReader:
    def __init__(self, io: KubeIO, core: CoreV1Api,
                 istio_namespace: str = ISTIO_NAMESPACE) -> None:
        self.io, self.core, self.istio_namespace = io, core, istio_namespace

    def injector_images(self) -> dict[str, str]:
        """Revision → proxy image its injector gives new pods."""
        data = self.io.raw("list", "configmaps", self.core.list_namespaced_config_map,
                           self.istio_namespace)
        images = {}
        for cm in data.get("items") or []:
            name = cm["metadata"]["name"]
            values = (cm.get("data") or {}).get("values")
            if name.startswith(INJECTOR_PREFIX) and values:
                image = injector_image(orjson.loads(values))
                if image:
                    images[name.removeprefix(INJECTOR_PREFIX)] = image
        return images

    def take(self, namespace: str | None = None) -> Census:
        """Count every pod that runs or will run (of one namespace, if given), page by page;
        finished pods apart."""
        tally = _Tally(self.injector_images())
        if namespace is None:
            pages = self.io.pages("pods", self.core.list_pod_for_all_namespaces)
        else:
            pages = self.io.pages("pods", self.core.list_namespaced_pod, namespace)
        with paused_gc():  # the tally, like the parsed pages, holds no reference cycles
            for items in pages:
                tally.pages += 1
                for pod in items:
                    tally.add(pod)
        return tally.result()


def census_from_kubeconfig(path: str, context: str | None = None,
                           namespace: str | None = None) -> Census:
    """The census of the cluster a kubeconfig points at (`mesh-upgrade-bot census`)."""
    from bot.kube.client import kubeconfig_client

    api = kubeconfig_client(path, context)
    return CensusReader(KubeIO(api), CoreV1Api(api)).take(namespace)
