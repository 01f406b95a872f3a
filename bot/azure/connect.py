"""How the bot reaches ARM, and the ARM adapter of one configured cluster.

The public cloud and DefaultAzureCredential (workload identity in AKS) unless an `ArmEndpoint`
says otherwise: another ARM (a sovereign cloud, or the simulator in the sandbox and tests,
with MESH_UPGRADE_ARM_URL and MESH_UPGRADE_ARM_CA) or another credential, which only the
sandbox and the tests hand in: the product itself has no shortcut around azure-identity.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from azure.core.credentials import TokenCredential

from bot.azure.client import build_client
from bot.azure.mesh import AksMesh
from bot.config.settings import ClusterConfig

ENV_URL, ENV_CA = "MESH_UPGRADE_ARM_URL", "MESH_UPGRADE_ARM_CA"


@dataclass(frozen=True)
class ArmEndpoint:
    base_url: str | None = None  # None: the public cloud
    ca_file: str | None = None  # a CA bundle for base_url (the simulator's test CA)
    credential: TokenCredential | None = None  # None: DefaultAzureCredential

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None,
                 credential: TokenCredential | None = None) -> ArmEndpoint:
        values = os.environ if env is None else env
        return cls(values.get(ENV_URL) or None, values.get(ENV_CA) or None, credential)


def connect_mesh(cfg: ClusterConfig, arm: ArmEndpoint,
                 on_error: Callable[[], None] | None = None) -> AksMesh:
    """The ARM adapter of `cfg`'s cluster; `on_error` counts failed calls (/metrics)."""
    client = build_client(cfg.subscription_id, arm.credential, arm.base_url, arm.ca_file)
    return AksMesh(client, cfg.resource_group, cfg.cluster_name, on_error=on_error)
