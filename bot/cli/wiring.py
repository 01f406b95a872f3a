"""Wiring: a cluster's adapters built from the configuration, the workflow around them, and
the leader elector on the bot's own cluster.

Nothing is built at import time; `build_workflow` builds the store and returns a Workflow that
connects to a cluster the first time a run needs it. ARM is reached through
DefaultAzureCredential unless an `ArmEndpoint` says otherwise: the sandbox and the tests point
the bot at the simulated ARM with MESH_UPGRADE_ARM_URL, MESH_UPGRADE_ARM_CA (the test CA's PEM)
and MESH_UPGRADE_ARM_TOKEN (a fixed bearer token the simulator accepts).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

import yaml
from azure.core.credentials import TokenCredential
from kubernetes import client as kube_client
from kubernetes import config as kube_config
from kubernetes.config.config_exception import ConfigException

from bot.azure.client import build_client
from bot.azure.mesh import AksMesh
from bot.config.identity import user_agent
from bot.config.settings import (
    AccessConfig,
    AccessMode,
    BotConfig,
    ClusterConfig,
    LeaderElectionConfig,
    Secrets,
    database_url,
)
from bot.kube.census_pool import CensusPool
from bot.kube.cluster import Cluster
from bot.kube.lease import Callback, ElectionSettings, Elector
from bot.store.repository import Store, create_store
from bot.upgrade.errors import GiveUp
from bot.workflow.ports import Adapters
from bot.workflow.runner import Workflow

ENV_URL, ENV_CA, ENV_TOKEN = "MESH_UPGRADE_ARM_URL", "MESH_UPGRADE_ARM_CA", "MESH_UPGRADE_ARM_TOKEN"


@dataclass(frozen=True)
class ArmEndpoint:
    base_url: str | None = None  # None: the public cloud
    ca_file: str | None = None
    token: str | None = None  # a fixed bearer token (simulators only)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ArmEndpoint:
        values = os.environ if env is None else env
        return cls(values.get(ENV_URL) or None, values.get(ENV_CA) or None,
                   values.get(ENV_TOKEN) or None)


def connect_mesh(cfg: ClusterConfig, arm: ArmEndpoint) -> AksMesh:
    client = build_client(cfg.subscription_id, _credential(arm), arm.base_url, arm.ca_file)
    return AksMesh(client, cfg.resource_group, cfg.cluster_name)


def _credential(arm: ArmEndpoint) -> TokenCredential | None:
    """None (DefaultAzureCredential) unless a fixed token is set, which only the simulator
    takes: its own credential class then, imported only on that path."""
    if not arm.token:
        return None
    from meshsim.arm.testing import StaticTokenCredential

    return StaticTokenCredential(arm.token)


def kube_api_client(access: AccessConfig, mesh: AksMesh | None = None, label: str = ""
                    ) -> kube_client.ApiClient:
    """An ApiClient per the access mode (ARM credentials need `mesh`); errors become GiveUp.
    Its user agent names the replica, so the API server's audit log says which one acted."""
    api = _new_api_client(access, mesh, mesh.label if mesh is not None else label)
    api.user_agent = user_agent()
    return api


def _new_api_client(access: AccessConfig, mesh: AksMesh | None, where: str
                    ) -> kube_client.ApiClient:
    try:
        if access.mode is AccessMode.KUBECONFIG:
            api: kube_client.ApiClient = kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
                str(access.kubeconfig), access.context)
            return api
        if access.mode is AccessMode.IN_CLUSTER:
            configuration = kube_client.Configuration()
            kube_config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration)
            return kube_client.ApiClient(configuration)
        if mesh is None:
            raise ConfigException("ARM credentials need the cluster's ARM adapter")
        document = yaml.safe_load(mesh.user_kubeconfig())
        api = kube_config.new_client_from_config_dict(  # type: ignore[no-untyped-call]
            document, access.context)
        return api
    except (ConfigException, OSError, yaml.YAMLError) as exc:
        raise GiveUp(f"Cannot reach the Kubernetes API of {where} ({access.mode}): {exc}",
                     "Check the cluster's access section in the configuration.") from None


def connect_cluster(cfg: ClusterConfig, arm: ArmEndpoint,
                    census_pool: CensusPool | None = None) -> Adapters:
    mesh = connect_mesh(cfg, arm)
    api = kube_api_client(cfg.access, mesh)
    return Adapters(mesh, Cluster.from_api_client(api, cfg.bot_namespace,
                                                  census_pool=census_pool))


def build_elector(cfg: LeaderElectionConfig, on_lead: Callback, on_lose: Callback) -> Elector:
    """An Elector reaching the bot's own cluster the way the configuration says."""
    # The library logs every renewal and every follower's look at INFO; ours says what matters.
    logging.getLogger("leaderelection").setLevel(logging.WARNING)
    api = kube_api_client(cfg.access, label="the bot's own cluster (leader election)")
    return Elector(api, ElectionSettings.of(cfg), on_lead, on_lose)


def build_workflow(config: BotConfig, store: Store | None = None,
                   arm: ArmEndpoint | None = None,
                   census_pool: CensusPool | None = None) -> Workflow:
    """The workflow; with `census_pool` (the Slack bot) censuses run in its worker process."""
    endpoint = arm if arm is not None else ArmEndpoint.from_env()
    return Workflow(store or create_store(database_url(config, Secrets())), config,
                    lambda name: connect_cluster(config.cluster(name), endpoint, census_pool))
