"""An AKS cluster's OIDC issuer: it signs the projected service account tokens that workload
identity hands to azure-identity as client assertions (AZURE_FEDERATED_TOKEN_FILE).

The token is what the kubelet projects for the workload identity webhook: audience
`api://AzureADTokenExchange`, subject `system:serviceaccount:<ns>:<name>`, an hour of life
(`expirationSeconds: 3600`), rewritten at 80 % of it. The issuer URL has AKS's shape
(`https://<region>.oic.prod-aks.azure.com/<tenant>/<guid>/`); Entra ID looks its keys up by it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from meshsim.entra.tokens import Claims, Rejected, SigningKey, Why, read

PROJECTED_SECONDS = 3600.0
TOKEN_FILE = "azure-identity-token"  # AKS mounts it at /var/run/secrets/azure/tokens/


class OidcIssuer:
    def __init__(self, region: str, tenant_id: str) -> None:
        self.url = f"https://{region}.oic.prod-aks.azure.com/{tenant_id}/{uuid.uuid4()}/"
        self.key = SigningKey.generate()

    def service_account_token(self, namespace: str, name: str,
                              audience: str = "api://AzureADTokenExchange",
                              lifetime: float = PROJECTED_SECONDS) -> str:
        now = int(time.time())
        claims: Claims = {
            "aud": [audience], "iss": self.url, "iat": now, "nbf": now,
            "exp": now + int(lifetime), "sub": f"system:serviceaccount:{namespace}:{name}",
            "kubernetes.io": {"namespace": namespace,
                              "serviceaccount": {"name": name, "uid": str(uuid.uuid4())}}}
        return self.key.sign(claims)

    def verify(self, token: str) -> Claims:
        claims = read(token, {self.key.kid: self.key})
        if claims.get("iss") != self.url:
            raise Rejected(Why.SIGNATURE, f"issued by {claims.get('iss')}", claims)
        return claims


class ProjectedToken:
    """The token file of one service account, kept fresh as the kubelet keeps it."""

    def __init__(self, issuer: OidcIssuer, namespace: str, name: str, path: Path) -> None:
        self.issuer, self.namespace, self.name, self.path = issuer, namespace, name, path

    def write(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        token = self.issuer.service_account_token(self.namespace, self.name)
        staged = self.path.with_suffix(".tmp")
        staged.write_text(token)
        staged.replace(self.path)  # readers never see half a token
        return self.path

    async def keep_fresh(self) -> None:
        while True:
            await asyncio.sleep(PROJECTED_SECONDS * 0.8)
            self.write()
