"""How the tests give the bot meshsim's cloud: the way production gives it Azure.

The product reaches ARM and Entra ID clusters only through azure-identity. A test that runs the
bot as a process (`COMMAND`, the product's own `python -m bot.cli`) or calls its `main`
in-process gives it the environment an operator would export (`bot_env`): AZURE_TENANT_ID,
AZURE_CLIENT_ID, AZURE_CLIENT_SECRET (or AZURE_FEDERATED_TOKEN_FILE), AZURE_AUTHORITY_HOST at
the simulated tenant, REQUESTS_CA_BUNDLE for its CA, and MESH_UPGRADE_ARM_URL/CA. A test that
builds the bot's parts in-process hands them a real ClientSecretCredential pointed at the
tenant (`sim_arm`, `arm_credential`); it is made once per tenant, so azure-identity's token
cache serves every test of a module.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from azure.identity import ClientSecretCredential

from bot.azure.connect import ENV_CA, ENV_URL, ArmEndpoint
from meshsim.arm import ArmSim
from meshsim.sim import azure_environment

ROOT = Path(__file__).resolve().parent.parent
COMMAND = [sys.executable, "-m", "bot.cli"]  # run with cwd=ROOT (or ROOT on PYTHONPATH)


def bot_env(described: Mapping[str, Any], workload_identity: bool = False) -> dict[str, str]:
    """The environment of a bot process (or in-process `main`) against `described`'s cloud."""
    return {**azure_environment(dict(described), workload_identity),
            ENV_URL: described["arm"]["url"], ENV_CA: described["arm"]["ca_file"]}


@cache
def client_secret_credential(authority: str, tenant_id: str, client_id: str, secret: str,
                             ca_file: str) -> ClientSecretCredential:
    # The simulated authority is not one MSAL knows: no instance discovery (meshsim/entra).
    return ClientSecretCredential(tenant_id, client_id, secret, authority=authority,
                                  connection_verify=ca_file, disable_instance_discovery=True)


def credential(described: Mapping[str, Any]) -> ClientSecretCredential:
    """The bot's credential at the tenant `MeshSim.describe()` (or `serve`) describes."""
    entra = described["entra"]
    return client_secret_credential(entra["authority_host"], entra["tenant_id"],
                                    entra["client_id"], entra["client_secret"], entra["ca_file"])


def arm_credential(arm: ArmSim) -> ClientSecretCredential:
    """The bot's credential at the tenant of a served ArmSim."""
    entra = arm.entra
    assert entra.base_url is not None and arm.ca_path is not None, "serve the ArmSim first"
    return client_secret_credential(entra.base_url, entra.tenant.tenant_id, entra.bot.client_id,
                                    entra.bot_secret, str(arm.ca_path))


def sim_arm(described: Mapping[str, Any]) -> ArmEndpoint:
    """The simulated ARM, as the tests that build the bot in-process reach it."""
    return ArmEndpoint(described["arm"]["url"], described["arm"]["ca_file"],
                       credential(described))
