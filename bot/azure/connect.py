"""How the bot reaches ARM and Entra ID, and the ARM adapter of one configured cluster.

The bot authenticates with DefaultAzureCredential and nothing else: workload identity in AKS
(AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE), or AZURE_CLIENT_SECRET. One
credential per endpoint serves ARM and the Entra ID clusters' API servers (`kube_tokens`), so
both share azure-identity's token cache. Another cloud is configured as azure-identity
configures it: AZURE_AUTHORITY_HOST, and REQUESTS_CA_BUNDLE for a private CA (requests reads it
for every https call azure-core makes); MESH_UPGRADE_ARM_URL and MESH_UPGRADE_ARM_CA name
another ARM. An authority host outside Microsoft's clouds is used as configured, without
instance discovery: MSAL would otherwise ask login.microsoftonline.com to vouch for it
(msal/authority.py), and azure-identity's own error says to pass disable_instance_discovery.
Tests may hand in a credential of their own (a real azure-identity one); the product has no
shortcut around Entra ID.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlparse

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, ClientAuthenticationError
from azure.identity import AzureAuthorityHosts, DefaultAzureCredential

from bot.azure.client import build_client
from bot.azure.mesh import AksMesh
from bot.config.settings import ClusterConfig
from bot.upgrade.errors import Cause, GiveUp, MeshUpgradeError, RetryLater

ENV_URL, ENV_CA = "MESH_UPGRADE_ARM_URL", "MESH_UPGRADE_ARM_CA"
ENV_AUTHORITY = "AZURE_AUTHORITY_HOST"
ENV_CLIENT_SECRET = "AZURE_CLIENT_SECRET"  # read by azure-identity; masked in the bot's logs
MICROSOFT_AUTHORITIES = frozenset({AzureAuthorityHosts.AZURE_PUBLIC_CLOUD,
                                   AzureAuthorityHosts.AZURE_CHINA,
                                   AzureAuthorityHosts.AZURE_GOVERNMENT, "login.windows.net"})
_TOKEN_RETRY = 15.0  # as long as for an unreachable ARM
IDENTITY_HINT = ("Check the bot's Azure identity: AZURE_CLIENT_ID and AZURE_TENANT_ID with "
                 "workload identity (AZURE_FEDERATED_TOKEN_FILE) or AZURE_CLIENT_SECRET, and "
                 "AZURE_AUTHORITY_HOST outside the public cloud.")


def default_credential(env: Mapping[str, str] | None = None) -> TokenCredential:
    """DefaultAzureCredential, trusting an authority host outside Microsoft's clouds as is."""
    host = (os.environ if env is None else env).get(ENV_AUTHORITY, "")
    name = urlparse(host if "://" in host else f"https://{host}").hostname or ""
    if host and name.lower() not in MICROSOFT_AUTHORITIES:
        return DefaultAzureCredential(disable_instance_discovery=True)
    return DefaultAzureCredential()


@dataclass(frozen=True)
class ArmEndpoint:
    base_url: str | None = None  # None: the public cloud
    ca_file: str | None = None  # a CA bundle for base_url (the simulator's test CA)
    credential: TokenCredential | None = None  # None: DefaultAzureCredential

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ArmEndpoint:
        values = os.environ if env is None else env
        return cls(values.get(ENV_URL) or None, values.get(ENV_CA) or None)

    @cached_property
    def token_credential(self) -> TokenCredential:
        """The credential of every client of this endpoint, made once."""
        return self.credential if self.credential is not None else default_credential()

    def kube_tokens(self) -> Callable[[str], tuple[str, float]]:
        """Tokens for an Entra ID cluster's API server (scope `<server app id>/.default`)."""
        credential = self.token_credential

        def token(scope: str) -> tuple[str, float]:
            try:
                got = credential.get_token(scope)
            except AzureError as exc:
                raise token_error(exc, scope) from exc
            return got.token, float(got.expires_on)

        return token


def token_error(exc: AzureError, scope: str) -> MeshUpgradeError:
    """Entra ID refusing the bot (a 4xx, or no credential at all) needs a person; a 5xx or an
    unreachable authority is retried later."""
    lines = str(exc.message or exc).strip().splitlines() or [type(exc).__name__]
    # DefaultAzureCredential heads its message with a summary; Entra's own words follow.
    said = next((line.strip() for line in lines if "AADSTS" in line), lines[0])
    status = getattr(exc, "status_code", None)
    if isinstance(exc, ClientAuthenticationError) and (status is None or status < 500):
        return GiveUp(f"Entra ID gave the bot no token for {scope}: {said}", IDENTITY_HINT)
    return RetryLater(f"Could not get a token for {scope} from Entra ID: {said}", _TOKEN_RETRY)


def connect_mesh(cfg: ClusterConfig, arm: ArmEndpoint,
                 on_error: Callable[[Cause], None] | None = None) -> AksMesh:
    """The ARM adapter of `cfg`'s cluster; `on_error` counts failed calls (/metrics)."""
    client = build_client(cfg.subscription_id, arm.token_credential, arm.base_url, arm.ca_file)
    return AksMesh(client, cfg.resource_group, cfg.cluster_name, on_error=on_error)
