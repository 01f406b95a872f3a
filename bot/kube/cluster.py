"""The Kubernetes adapter as the workflow sees it: one object per cluster, built from a client.

It only wires the small modules together (tags, namespaces, restarts, census, control plane,
HPAs, health) around one shared request counter; every method lives in those modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from kubernetes.client import (
    AdmissionregistrationV1Api,
    ApiClient,
    AppsV1Api,
    AutoscalingV2Api,
    CoreV1Api,
)

from bot.kube.census import CensusReader
from bot.kube.census_pool import CensusPool, PooledCensus
from bot.kube.control_plane import ControlPlane
from bot.kube.health import Health
from bot.kube.hpas import Hpas
from bot.kube.namespaces import Namespaces
from bot.kube.rest import KubeIO
from bot.kube.restarts import Restarter
from bot.kube.tags import Tags
from bot.upgrade.addon import INGRESS_NAMESPACE, ISTIO_NAMESPACE
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
from bot.upgrade.errors import Cause

OnCensus = Callable[[Census], None]


@dataclass(frozen=True)
class Cluster:
    io: KubeIO
    tags: Tags
    namespaces: Namespaces
    restarts: Restarter
    census: CensusReader | PooledCensus
    control_plane: ControlPlane
    hpas: Hpas
    health: Health
    on_census: OnCensus | None = None  # told of every whole-cluster census (the bot's /metrics)

    @classmethod
    def from_api_client(cls, api_client: ApiClient, own_namespace: str, *,
                        istio_namespace: str = ISTIO_NAMESPACE,
                        ingress_namespace: str = INGRESS_NAMESPACE,
                        clock: Callable[[], float] | None = None,
                        census_pool: CensusPool | None = None,
                        on_error: Callable[[Cause], None] | None = None,
                        on_census: OnCensus | None = None) -> Cluster:
        """With `census_pool`, censuses are taken in its worker process (census_pool.py);
        `on_error` is called with the cause of every failed API call and `on_census` with
        every census of the whole cluster (the bot's /metrics count and show them)."""
        io = KubeIO(api_client, on_error)
        core, apps = CoreV1Api(api_client), AppsV1Api(api_client)
        admission = AdmissionregistrationV1Api(api_client)
        restarter = Restarter(io, apps) if clock is None else Restarter(io, apps, clock)
        return cls(io, Tags(io, admission, core, istio_namespace),
                   Namespaces(io, core, admission, own_namespace), restarter,
                   CensusReader(io, core, istio_namespace) if census_pool is None
                   else PooledCensus(census_pool, api_client, istio_namespace),
                   ControlPlane(io, core, apps, istio_namespace, ingress_namespace),
                   Hpas(io, AutoscalingV2Api(api_client), (istio_namespace, ingress_namespace)),
                   Health(io, core, apps), on_census)

    # --- the workflow's seam (bot/workflow/ports.py ClusterPort) ------------------------------

    def set_tag(self, tag: str, revision: str) -> TagChange:
        return self.tags.set(tag, revision)

    def remove_tag(self, tag: str) -> TagRemoval:
        return self.tags.remove(tag)

    def list_tags(self) -> tuple[RevisionTag, ...]:
        return self.tags.list_tags()

    def forbidden_tag_changes(self, changes: Iterable[tuple[str, str]]) -> tuple[str, ...]:
        return self.tags.forbidden(changes)

    def namespace_injection(self) -> tuple[NamespaceInjection, ...]:
        return self.namespaces.injection()

    def relabel(self, namespace: str, value: str) -> bool:
        return self.namespaces.relabel(namespace, value)

    def restart_wave(self, workloads: Iterable[WorkloadRef], restart_id: str, *,
                     concurrency: int, progress_timeout: float) -> WaveReport:
        return self.restarts.run_wave(workloads, restart_id, concurrency=concurrency,
                                      progress_timeout=progress_timeout)

    def take_census(self, namespace: str | None = None) -> Census:
        census = self.census.take(namespace)
        if namespace is None and self.on_census is not None:
            self.on_census(census)
        return census

    def plane_status(self, revision: str) -> RevisionPlane:
        return self.control_plane.status(revision)

    def copy_shared_config(self, old: str, new: str) -> ConfigCopy:
        return self.control_plane.copy_shared_config(old, new)

    def delete_shared_config(self, revision: str) -> bool:
        return self.control_plane.delete_shared_config(revision)

    def compare_hpas(self, stable: str, canary: str) -> tuple[HpaPair, ...]:
        return self.hpas.compare(stable, canary)

    def check_health(self, namespaces: Iterable[str], since: datetime) -> HealthReport:
        return self.health.check(namespaces, since)
