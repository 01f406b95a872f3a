"""The kubeconfigs ARM hands out (listClusterUserCredential, listClusterAdminCredential) and the
access fields of a cluster's body, for local-account and Entra ID clusters alike.

A local-account cluster's user kubeconfig carries a token, as before. An Entra ID cluster's
runs kubelogin, exactly as AKS writes it for `format=exec` (the default): `get-token
--environment AzurePublicCloud --server-id 6dae42f8-... --client-id 80faf920-... --tenant-id
<tenant> --login devicecode`, `installHint`, `provideClusterInfo: false` (a kubeconfig from
`az aks get-credentials`, quoted in public Terraform code); `format=azure` gives the legacy
`auth-provider: azure`. With local accounts disabled the admin credential is refused with
AKS's 400 "Getting static credential is not allowed because this cluster is set to disable
local accounts." (as terraform-provider-azurerm#15489 quotes it).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING

import yaml

from meshsim.arm.rp import JSON, RpError
from meshsim.entra.tenant import AKS_SERVER_APP

if TYPE_CHECKING:
    from meshsim.arm.rp import Cluster

AKS_CLIENT_APP = "80faf920-1908-4b52-b5ef-a8e7bedfc67a"  # kubelogin's public client
ADMIN_TOKEN = "meshsim-cluster-admin"  # the local admin account's token
LOCAL_ACCOUNTS_DISABLED = ("Getting static credential is not allowed because this cluster is "
                           "set to disable local accounts.")
INSTALL_HINT = ("\nkubelogin is not installed which is required to connect to AAD enabled "
                "cluster.\n\nTo learn more, please go to https://aka.ms/aks/kubelogin\n")


@dataclass(frozen=True)
class EntraProfile:
    """AKS-managed Entra ID integration (`aadProfile`) and what comes with it."""

    tenant_id: str
    azure_rbac: bool = True  # Azure RBAC for Kubernetes authorization
    local_accounts: bool = False  # False: `disableLocalAccounts: true`
    admin_group_ids: tuple[str, ...] = ()


def access_properties(c: Cluster) -> JSON:
    """`aadProfile`, `disableLocalAccounts`, the OIDC issuer and workload identity."""
    issuer = c.oidc_issuer_url
    props: JSON = {"oidcIssuerProfile": {"enabled": bool(issuer),
                                         **({"issuerURL": issuer} if issuer else {})},
                   "disableLocalAccounts": bool(c.entra and not c.entra.local_accounts)}
    if issuer:
        props["securityProfile"] = {"workloadIdentity": {"enabled": True}}
    if c.entra:
        props["aadProfile"] = {"managed": True, "enableAzureRBAC": c.entra.azure_rbac,
                               "adminGroupObjectIDs": list(c.entra.admin_group_ids) or None,
                               "tenantID": c.entra.tenant_id}
    return props


def user_credentials(c: Cluster, credential_format: str | None = None) -> JSON:
    user = _entra_user(c.entra, credential_format) if c.entra else {"token": c.kube_token}
    return _credentials("clusterUser", kubeconfig(c, f"clusterUser_{c.resource_group}_{c.name}",
                                                  user))


def admin_credentials(c: Cluster) -> JSON:
    if c.entra and not c.entra.local_accounts:
        raise RpError(400, "BadRequest", LOCAL_ACCOUNTS_DISABLED)
    name = f"clusterAdmin_{c.resource_group}_{c.name}"
    return _credentials("clusterAdmin", kubeconfig(c, name, {"token": ADMIN_TOKEN}))


def kubeconfig(c: Cluster, user_name: str, user: JSON) -> str:
    """What `az aks get-credentials` would merge: one cluster, one context, one user."""
    cluster: JSON = {"server": c.kube_server_url}
    if c.kube_ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(c.kube_ca_pem.encode()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": c.name, "cluster": cluster}],
        "contexts": [{"name": c.name, "context": {"cluster": c.name, "user": user_name}}],
        "current-context": c.name,
        "users": [{"name": user_name, "user": user}],
        "preferences": {},
    }
    text: str = yaml.safe_dump(config, sort_keys=False)
    return text


def _entra_user(entra: EntraProfile, credential_format: str | None) -> JSON:
    if (credential_format or "").lower() == "azure":
        return {"auth-provider": {"name": "azure", "config": {
            "apiserver-id": AKS_SERVER_APP, "client-id": AKS_CLIENT_APP, "config-mode": "1",
            "environment": "AzurePublicCloud", "tenant-id": entra.tenant_id}}}
    return {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "args": ["get-token", "--environment", "AzurePublicCloud", "--server-id",
                 AKS_SERVER_APP, "--client-id", AKS_CLIENT_APP, "--tenant-id",
                 entra.tenant_id, "--login", "devicecode"],
        "command": "kubelogin", "env": None, "installHint": INSTALL_HINT,
        "provideClusterInfo": False}}


def _credentials(name: str, text: str) -> JSON:
    return {"kubeconfigs": [{"name": name, "value": base64.b64encode(text.encode()).decode()}]}
