"""What the workflow needs from ARM and from the cluster: two seams, as Protocols.

The real adapters (`bot.azure.mesh.AksMesh`, `bot.kube.cluster.Cluster`) satisfy them
structurally; the workflow is handed built adapters and never imports an SDK. Each port names
only the calls the workflow makes, so a reader sees at a glance which side effects a run can
have.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.schedule.maintenance import MaintenanceConfig
from bot.traffic.signals import Signals, Window, WorkloadKey
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
from bot.upgrade.mesh_facts import (
    MeshState,
    Observed,
    Operation,
    OperationStatus,
    RevisionProfile,
    UpgradeOptions,
)
from bot.upgrade.plan import Observation


class MeshPort(Protocol):
    """The Istio add-on as ARM shows it (bot/azure/mesh.py)."""

    @property
    def label(self) -> str: ...

    def mesh_state(self) -> MeshState: ...

    def available_upgrades(self) -> UpgradeOptions: ...

    def revision_profiles(self, location: str | None = None) -> list[RevisionProfile]:
        """Every revision AKS offers in the location, with the Kubernetes it supports."""
        ...

    def begin_set_revisions(self, target: tuple[str, ...]) -> Operation: ...

    def operation_status(self, op: Operation | str) -> OperationStatus: ...

    def observe(self, target: tuple[str, ...]) -> Observed: ...

    def maintenance(self) -> tuple[MaintenanceConfig, ...]:
        """The cluster's AKS planned-maintenance configurations."""
        ...


class ClusterPort(Protocol):
    """The Kubernetes side of one cluster (bot/kube/cluster.py's `Cluster`), in the verbs of
    the procedure: tags as `istioctl tag` makes them, namespace labels, restart waves, the
    sidecar census, both control planes, HPAs and the health of workloads."""

    def set_tag(self, tag: str, revision: str) -> TagChange: ...

    def remove_tag(self, tag: str) -> TagRemoval: ...

    def list_tags(self) -> tuple[RevisionTag, ...]: ...

    def forbidden_tag_changes(self, changes: Iterable[tuple[str, str]]) -> tuple[str, ...]:
        """Of (tag, verb) pairs, what the bot may not do to those tags' webhooks."""
        ...

    def namespace_injection(self) -> tuple[NamespaceInjection, ...]: ...

    def relabel(self, namespace: str, value: str) -> bool: ...

    def restart_wave(self, workloads: Iterable[WorkloadRef], restart_id: str, *,
                     concurrency: int, progress_timeout: float) -> WaveReport: ...

    def take_census(self, namespace: str | None = None) -> Census: ...

    def plane_status(self, revision: str) -> RevisionPlane: ...

    def copy_shared_config(self, old: str, new: str) -> ConfigCopy: ...

    def delete_shared_config(self, revision: str) -> bool: ...

    def compare_hpas(self, stable: str, canary: str) -> tuple[HpaPair, ...]: ...

    def check_health(self, namespaces: Iterable[str], since: datetime) -> HealthReport: ...


class TrafficPort(Protocol):
    """The mesh's golden signals from the cluster's metrics source (bot/prom/source.py)."""

    @property
    def label(self) -> str:
        """Where the figures come from, for messages: "Prometheus at http://..."."""
        ...

    def read(self, workloads: Sequence[WorkloadKey], window: Window
             ) -> dict[WorkloadKey, Signals]:
        """Each workload's signals over `window`; a workload without requests may be absent.
        Raises MetricsUnavailable when the source fails after its bounded retries."""
        ...


@dataclass(frozen=True)
class Adapters:
    """Both sides of one cluster, as `bot.cli.wiring` wires them, and its metrics source
    when the cluster has traffic gates."""

    mesh: MeshPort
    cluster: ClusterPort
    traffic: TrafficPort | None = None


def observe(cluster: ClusterPort) -> Observation:
    """What the plan and the gates judge: namespace labels resolved, the census, the tags."""
    return Observation(cluster.namespace_injection(), cluster.take_census(),
                       cluster.list_tags())
