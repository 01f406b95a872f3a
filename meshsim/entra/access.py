"""How the bot reaches a scenario's clusters through Entra ID, set up as AKS would have it.

The bot's app registration gets a federated credential for the first cluster's OIDC issuer
(subject `system:serviceaccount:mesh-upgrade-bot:mesh-upgrade-bot`, deploy/base/), and its
projected token is written to a file, as the workload identity webhook mounts it
(AZURE_FEDERATED_TOKEN_FILE). An Entra ID cluster's API server authenticates with the tenant
and authorizes with Azure RBAC; the bot and meshsim's operator hold Azure Kubernetes Service
RBAC Cluster Admin on it (the bot relabels namespaces, which no lesser built-in role allows),
and the kubeconfig meshsim writes for it carries the operator's token (a day long) and the CA.
"""

from __future__ import annotations

import base64
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import yaml

from meshsim.entra.aks import EntraClusterAuth
from meshsim.entra.issuer import TOKEN_FILE, OidcIssuer, ProjectedToken
from meshsim.entra.sim import EntraSim
from meshsim.entra.tenant import AKS_SERVER_APP
from meshsim.runtime import SimLoop

BOT_NAMESPACE = BOT_SERVICE_ACCOUNT = "mesh-upgrade-bot"
CLUSTER_ADMIN = "Azure Kubernetes Service RBAC Cluster Admin"
OPERATOR_TOKEN_SECONDS = 86400.0


class ClusterAccess:
    def __init__(self, entra: EntraSim, workdir: Path, location: str) -> None:
        self.entra = entra
        self.issuer = OidcIssuer(location, entra.tenant.tenant_id)
        entra.tenant.federate(entra.bot, self.issuer,
                              f"system:serviceaccount:{BOT_NAMESPACE}:{BOT_SERVICE_ACCOUNT}")
        self.token_file = ProjectedToken(self.issuer, BOT_NAMESPACE, BOT_SERVICE_ACCOUNT,
                                         workdir / TOKEN_FILE)
        self._refresh: Future[Any] | None = None

    def start(self, loop: SimLoop) -> None:
        self.token_file.write()
        self._refresh = loop.spawn(self.token_file.keep_fresh())

    def stop(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()

    def entra_cluster(self, name: str, cluster_id: str) -> EntraClusterAuth:
        """An Entra ID cluster's API server auth, with the bot and the operator as admins."""
        for app in (self.entra.bot, self.entra.operator):
            self.entra.assignments.grant(app.object_id, CLUSTER_ADMIN, cluster_id)
        return EntraClusterAuth(self.entra.tenant, self.entra.assignments, cluster_id)

    def operator_kubeconfig(self, path: Path, ca_pem: str) -> None:
        """Make meshsim's kubeconfig of an Entra ID cluster trust its CA and use a token."""
        token, _ = self.entra.tenant.token_for(self.entra.operator, [f"{AKS_SERVER_APP}/.default"],
                                               lifetime=OPERATOR_TOKEN_SECONDS)
        config = yaml.safe_load(path.read_text())
        for cluster in config["clusters"]:
            cluster["cluster"]["certificate-authority-data"] = base64.b64encode(
                ca_pem.encode()).decode()
        for user in config["users"]:
            user["user"] = {"token": token}
        path.write_text(yaml.safe_dump(config, sort_keys=False))

    def describe(self, ca_file: str) -> dict[str, Any]:
        """What DefaultAzureCredential needs, as environment variables would carry it."""
        return {"authority_host": self.entra.base_url, "tenant_id": self.entra.tenant.tenant_id,
                "client_id": self.entra.bot.client_id, "client_secret": self.entra.bot_secret,
                "principal_id": self.entra.bot.object_id,
                "federated_token_file": str(self.token_file.path), "ca_file": ca_file,
                "token_lifetime": self.entra.tenant.token_lifetime}
