"""The Kubernetes adapter as the workflow sees it: one object per cluster, built from a client.

It only wires the small modules together (tags, namespaces, restarts, census, control plane,
HPAs, health) around one shared request counter; every method lives in those modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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

    @classmethod
    def from_api_client(cls, api_client: ApiClient, own_namespace: str, *,
                        istio_namespace: str = ISTIO_NAMESPACE,
                        ingress_namespace: str = INGRESS_NAMESPACE,
                        clock: Callable[[], float] | None = None,
                        census_pool: CensusPool | None = None,
                        on_error: Callable[[], None] | None = None) -> Cluster:
        """With `census_pool`, censuses are taken in its worker process (census_pool.py);
        `on_error` is called for every failed API call (the bot's /metrics count them)."""
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
                   Health(io, core, apps))
