"""What the workflow needs from ARM and from the cluster, as small Protocols.

The real adapters (`bot.azure.mesh.AksMesh`, `bot.kube.cluster.Cluster`) satisfy them
structurally; the workflow is handed built adapters and never imports an SDK. Each port names
only the calls the workflow makes, so a reader sees at a glance which side effects a run can
have.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.upgrade.cluster_facts import (
    Census,
    ConfigCopy,
    HealthReport,
    HpaPair,
    NamespaceInjection,
    RevisionPlane,
    RevisionTag,
    TagChange,
    TagRemoval,
    WaveReport,
    WorkloadRef,
)
from bot.upgrade.mesh_facts import MeshState, Observed, Operation, OperationStatus, UpgradeOptions
from bot.upgrade.plan import Observation


class MeshPort(Protocol):
    """The Istio add-on as ARM shows it (bot/azure/mesh.py)."""

    @property
    def label(self) -> str: ...

    def mesh_state(self) -> MeshState: ...

    def available_upgrades(self) -> UpgradeOptions: ...

    def begin_set_revisions(self, target: tuple[str, ...]) -> Operation: ...

    def operation_status(self, op: Operation | str) -> OperationStatus: ...

    def observe(self, target: tuple[str, ...]) -> Observed: ...


class TagsPort(Protocol):
    def set(self, tag: str, revision: str, *, overwrite: bool = True) -> TagChange: ...

    def revision_of(self, tag: str) -> str | None: ...

    def remove(self, tag: str, *, missing_ok: bool = True) -> TagRemoval: ...

    def list_tags(self) -> tuple[RevisionTag, ...]: ...


class NamespacesPort(Protocol):
    def injection(self) -> tuple[NamespaceInjection, ...]: ...

    def relabel(self, namespace: str, value: str) -> bool: ...


class RestartsPort(Protocol):
    def run_wave(self, workloads: Iterable[WorkloadRef], restart_id: str, *,
                 concurrency: int = 5, progress_timeout: float = 600.0) -> WaveReport: ...


class CensusPort(Protocol):
    def take(self, namespace: str | None = None) -> Census: ...


class ControlPlanePort(Protocol):
    def status(self, revision: str) -> RevisionPlane: ...

    def copy_shared_config(self, old: str, new: str) -> ConfigCopy: ...

    def delete_shared_config(self, revision: str) -> bool: ...


class HpasPort(Protocol):
    def compare(self, stable: str, canary: str) -> tuple[HpaPair, ...]: ...


class HealthPort(Protocol):
    def check(self, namespaces: Iterable[str], since: datetime,
              baseline: Mapping[str, int] | None = None) -> HealthReport: ...


class ClusterPort(Protocol):
    """The Kubernetes side of one cluster (bot/kube/cluster.py's `Cluster`)."""

    @property
    def tags(self) -> TagsPort: ...

    @property
    def namespaces(self) -> NamespacesPort: ...

    @property
    def restarts(self) -> RestartsPort: ...

    @property
    def census(self) -> CensusPort: ...

    @property
    def control_plane(self) -> ControlPlanePort: ...

    @property
    def hpas(self) -> HpasPort: ...

    @property
    def health(self) -> HealthPort: ...


@dataclass(frozen=True)
class Adapters:
    """Both sides of one cluster, as `bot.cli.wiring` wires them."""

    mesh: MeshPort
    cluster: ClusterPort


def observe(cluster: ClusterPort) -> Observation:
    """What the plan and the gates judge: namespace labels resolved, the census, the tags."""
    return Observation(cluster.namespaces.injection(), cluster.census.take(),
                       cluster.tags.list_tags())
