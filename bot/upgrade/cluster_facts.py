"""What the bot observes in a cluster, as plain values: workloads, sidecars (the census),
revision tags, namespace injection, health, HPAs, control planes and restart waves.

The Kubernetes adapter (bot/kube/) builds them; the plan, the gates, the workflow and the
Slack views read them. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

KINDS = ("Deployment", "StatefulSet", "DaemonSet")


@dataclass(frozen=True, order=True)
class WorkloadRef:
    kind: str  # Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, Pod (bare) ...
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind.lower()}/{self.name} -n {self.namespace}"

    @property
    def restartable(self) -> bool:
        return self.kind in KINDS


@dataclass(frozen=True)
class PodSidecar:
    namespace: str
    name: str
    workload: WorkloadRef
    revision: str | None
    image: str | None
    ready: bool
    restarts: int


@dataclass(frozen=True)
class WorkloadSidecars:
    workload: WorkloadRef
    pods: int
    ready: int
    restarts: int
    revisions: Mapping[str, int]  # "" = pods without a sidecar
    versions: Mapping[str, int]
    drifted: int
    native: int = 0  # pods running istio-proxy as a native sidecar (the rest: classic)
    app_exited: int = 0  # Job pods whose app exited while a classic istio-proxy keeps running

    @property
    def injected(self) -> int:
        return sum(n for revision, n in self.revisions.items() if revision)


@dataclass(frozen=True)
class FinishedPods:
    """Pods that ended (phase Succeeded or Failed: a finished Job's, an evicted one) and
    still carry a revision's sidecar annotation. They never run again: they use no control
    plane, block nothing, are never restarted, and go when deleted."""

    revision: str
    kind: str  # "Job": a finished Job's pods; "Evicted"; "": any other finished pod
    phase: str  # Succeeded or Failed
    pods: int
    namespaces: tuple[str, ...]


@dataclass(frozen=True)
class Census:
    pods: int
    injected: int
    by_revision: Mapping[str, int]
    by_version: Mapping[str, int]
    by_namespace: Mapping[str, Mapping[str, int]]  # namespace -> revision ("" = none) -> pods
    by_workload: Mapping[WorkloadRef, WorkloadSidecars]
    injector_images: Mapping[str, str]
    drift: tuple[PodSidecar, ...]
    pages: int
    finished: tuple[FinishedPods, ...] = ()  # not counted above: they run no more
    modes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # rev -> mode -> pods
    # revision -> proxy version -> pods (running, injected pods only)
    versions_by_revision: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    def workloads_on(self, revision: str) -> tuple[WorkloadRef, ...]:
        """Workloads with at least one pod injected by `revision`."""
        return tuple(sorted(w.workload for w in self.by_workload.values()
                            if w.revisions.get(revision)))

    def drifted_workloads(self) -> tuple[WorkloadRef, ...]:
        return tuple(sorted({pod.workload for pod in self.drift}))


@dataclass(frozen=True)
class RevisionTag:
    """One row of `istioctl tag list`: tag ("" for an untagged revision) and its namespaces."""

    tag: str
    revision: str
    namespaces: tuple[str, ...]


@dataclass(frozen=True)
class TagChange:
    tag: str
    revision: str
    previous: str | None  # revision the tag pointed at before; None if it was created
    webhook: str  # name of the MutatingWebhookConfiguration
    changed: bool  # False when the tag already was exactly this


@dataclass(frozen=True)
class TagRemoval:
    tag: str
    deleted: tuple[str, ...]  # webhook configuration names
    namespaces: tuple[str, ...]  # still labelled istio.io/rev=<tag>: their new pods get no sidecar


DEFAULT_TAG = "default"  # istioctl's tag that also serves istio-injection=enabled


@dataclass(frozen=True)
class NamespaceInjection:
    name: str
    label: str | None  # value of istio.io/rev on the namespace
    revision: str | None  # revision the label resolves to (directly or through a tag)
    tag: str | None  # the tag in between, if the label names a tag
    istio_injection: str | None  # value of the istio-injection label, if any

    @property
    def injected(self) -> bool:
        """True if new pods here get a sidecar: through istio.io/rev, or through a `default`
        tag made with istioctl, whose webhooks honour istio-injection=enabled."""
        if self.revision is None:
            return False
        return self.istio_injection is None or (
            self.tag == DEFAULT_TAG and self.istio_injection == "enabled")


@dataclass(frozen=True)
class IgnoredLabel:
    namespace: str
    istio_injection: str
    rev_label: str | None
    reason: str


@dataclass(frozen=True)
class WorkloadHealth:
    workload: WorkloadRef
    desired: int
    available: int
    pods: int = 0
    not_ready: tuple[str, ...] = ()
    crashlooping: tuple[str, ...] = ()  # "pod/container"
    restarts: int = 0  # since the baseline

    @property
    def healthy(self) -> bool:
        return self.available >= self.desired and not self.not_ready and not self.crashlooping


@dataclass(frozen=True)
class HealthReport:
    since: datetime
    workloads: tuple[WorkloadHealth, ...]

    @property
    def unhealthy(self) -> tuple[WorkloadHealth, ...]:
        return tuple(w for w in self.workloads if not w.healthy)

    @property
    def restarts(self) -> int:
        return sum(w.restarts for w in self.workloads)


@dataclass(frozen=True)
class HpaSpec:
    name: str
    min_replicas: int
    max_replicas: int
    metrics: tuple[str, ...]  # "cpu 80%" ...
    current: int
    desired: int


@dataclass(frozen=True)
class HpaPair:
    component: str  # "istiod", "aks-istio-ingressgateway-external", ...
    stable: HpaSpec | None
    canary: HpaSpec | None
    differences: tuple[str, ...]


@dataclass(frozen=True)
class Component:
    name: str
    namespace: str
    desired: int
    ready: int
    message: str

    @property
    def is_ready(self) -> bool:
        return self.desired > 0 and self.ready >= self.desired


@dataclass(frozen=True)
class RevisionPlane:
    revision: str
    istiod: Component
    gateways: tuple[Component, ...]  # ingress (external, internal) and egress gateways found
    remaining: tuple[str, ...] = ()  # "namespace/pod" of istiod and gateway pods still there

    @property
    def ready(self) -> bool:
        return self.istiod.is_ready and all(g.is_ready for g in self.gateways)

    @property
    def gone(self) -> bool:
        """Nothing of the revision's control plane is left: no Deployment, no pod."""
        return self.istiod.desired == 0 and not self.gateways and not self.remaining


@dataclass(frozen=True)
class ConfigCopy:
    source: str
    target: str
    outcome: str  # "created", "unchanged", "differs" (kept as it is), "no-source"


@dataclass(frozen=True)
class Restart:
    workload: WorkloadRef
    patched: bool  # False: the template already carried this restart id
    skipped: str | None = None  # why it was not restarted at all


@dataclass(frozen=True)
class Stuck:
    workload: WorkloadRef
    reason: str


@dataclass(frozen=True)
class WaveReport:
    restart_id: str
    done: tuple[WorkloadRef, ...]
    patched: tuple[WorkloadRef, ...]
    skipped: tuple[tuple[WorkloadRef, str], ...]
    stuck: Stuck | None
    unfinished: tuple[WorkloadRef, ...]  # restarted, still rolling when the wave stopped
    not_started: tuple[WorkloadRef, ...]
    requests: int

    @property
    def requests_per_workload(self) -> float:
        restarted = len(self.done) + len(self.unfinished) + (1 if self.stuck else 0)
        return self.requests / max(1, restarted)
