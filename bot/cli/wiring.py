"""Wiring: a cluster's adapters built from the configuration, the workflow around them, and
the leader elector on the bot's own cluster.

Nothing is built at import time; `build_workflow` builds the store and returns a Workflow that
connects to a cluster the first time a run needs it. With `metrics`, every adapter counts its
failed calls there and every census of a cluster is shown there; `events` hears what happens
in runs (bot/runtime/events.py).
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

from bot.azure.connect import ArmEndpoint, connect_mesh
from bot.config.gates import SourceKind
from bot.config.settings import (
    BotConfig,
    ClusterConfig,
    LeaderElectionConfig,
    Secrets,
    database_url,
)
from bot.kube.client import kube_api_client
from bot.kube.cluster import Cluster
from bot.kube.lease import Callback, ElectionSettings, Elector
from bot.prom.source import PrometheusTraffic, connect_traffic
from bot.store.repository import Store, create_store
from bot.workflow.events import EventSink, ignore
from bot.workflow.ports import Adapters
from bot.workflow.runner import Workflow

if TYPE_CHECKING:
    from bot.kube.census_pool import CensusPool
    from bot.runtime.metrics import Metrics


def connect_cluster(cfg: ClusterConfig, arm: ArmEndpoint, census_pool: CensusPool | None = None,
                    metrics: Metrics | None = None) -> Adapters:
    counts = metrics.counter_of if metrics is not None else None
    mesh = connect_mesh(cfg, arm, counts("arm") if counts else None)
    api = kube_api_client(cfg.access, mesh.user_kubeconfig, mesh.label, arm.kube_tokens())
    census = functools.partial(metrics.observe_census, cfg.name) if metrics else None
    cluster = Cluster.from_api_client(api, cfg.bot_namespace, census_pool=census_pool,
                                      on_error=counts("kubernetes") if counts else None,
                                      on_census=census)
    return Adapters(mesh, cluster, traffic_of(cfg, arm, metrics))


def traffic_of(cfg: ClusterConfig, arm: ArmEndpoint,
               metrics: Metrics | None = None) -> PrometheusTraffic | None:
    """The cluster's metrics source when it has traffic gates (an Azure Monitor workspace
    with the bot's Entra ID tokens, trusting the CA the Azure endpoints are given); otherwise
    TLS trusts REQUESTS_CA_BUNDLE like azure-core."""
    if cfg.traffic is None:
        return None
    azure = cfg.traffic.source.kind is SourceKind.AZURE_MONITOR
    return connect_traffic(cfg.traffic.source, arm.kube_tokens(),
                           on_error=metrics.counter_of("prometheus") if metrics else None,
                           ca_file=arm.ca_file if azure else None)


def build_elector(cfg: LeaderElectionConfig, on_lead: Callback, on_lose: Callback) -> Elector:
    """An Elector reaching the bot's own cluster the way the configuration says."""
    # The library logs every renewal and every follower's look at INFO; ours says what matters.
    logging.getLogger("leaderelection").setLevel(logging.WARNING)
    api = kube_api_client(cfg.access, label="the bot's own cluster (leader election)")
    return Elector(api, ElectionSettings.of(cfg), on_lead, on_lose)


def build_workflow(config: BotConfig, store: Store | None = None,
                   arm: ArmEndpoint | None = None, census_pool: CensusPool | None = None,
                   metrics: Metrics | None = None, events: EventSink = ignore) -> Workflow:
    """The workflow; with `census_pool` (the Slack bot) censuses run in its worker process."""
    endpoint = arm if arm is not None else ArmEndpoint.from_env()
    return Workflow(store or create_store(database_url(config, Secrets())), config,
                    lambda name: connect_cluster(config.cluster(name), endpoint, census_pool,
                                                 metrics), events=events)
