"""The simulated Entra ID tenant, as azure-identity's own credentials meet it:
DefaultAzureCredential through its environment and workload identity paths gets tokens signed by
the tenant (checked against the keys its discovery document publishes), and refusals carry
Entra's AADSTS codes."""

from __future__ import annotations

import json
import ssl
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import (
    ClientSecretCredential,
    DefaultAzureCredential,
    WorkloadIdentityCredential,
)

from meshsim.entra.access import ClusterAccess
from meshsim.entra.issuer import OidcIssuer
from meshsim.entra.tenant import AKS_SERVER_APP
from tests.meshsim.arm_env import ArmEnv, arm_env

ARM_SCOPE = "https://management.azure.com/.default"
AKS_SCOPE = f"{AKS_SERVER_APP}/.default"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[ArmEnv]:
    with arm_env(tmp_path) as running:
        yield running


def get_json(env: ArmEnv, url: str) -> Any:
    context = ssl.create_default_context(cafile=str(env.ca_path))
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        return json.loads(response.read())


def verified_claims(env: ArmEnv, token: str, audience: str) -> dict[str, Any]:
    """The claims, checked with the key the tenant's OpenID configuration points at."""
    tenant = env.arm.entra.tenant.tenant_id
    config = get_json(env, f"{env.arm.entra.base_url}/{tenant}/v2.0/.well-known/"
                           "openid-configuration")
    keys = {k["kid"]: k for k in get_json(env, config["jwks_uri"])["keys"]}
    key = jwt.PyJWK(keys[jwt.get_unverified_header(token)["kid"]])
    claims: dict[str, Any] = jwt.decode(token, key, algorithms=["RS256"], audience=audience)
    return claims


def use_environment(monkeypatch: pytest.MonkeyPatch, env: ArmEnv, **values: str) -> None:
    entra = env.arm.entra
    for name, value in {"AZURE_TENANT_ID": entra.tenant.tenant_id,
                        "AZURE_CLIENT_ID": entra.bot.client_id,
                        "AZURE_AUTHORITY_HOST": str(entra.base_url),
                        "REQUESTS_CA_BUNDLE": str(env.ca_path), **values}.items():
        monkeypatch.setenv(name, value)


def test_default_credential_from_the_environment_gets_arm_and_aks_tokens_of_the_tenant(
        env: ArmEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    entra = env.arm.entra
    entra.tenant.token_lifetime = 120
    use_environment(monkeypatch, env, AZURE_CLIENT_SECRET=entra.bot_secret)
    credential = DefaultAzureCredential(disable_instance_discovery=True)

    arm, aks = credential.get_token(ARM_SCOPE), credential.get_token(AKS_SCOPE)

    claims = verified_claims(env, arm.token, "https://management.azure.com")
    assert claims["tid"] == entra.tenant.tenant_id and claims["iss"] == entra.tenant.sts_issuer
    assert claims["appid"] == entra.bot.client_id and claims["oid"] == entra.bot.object_id
    assert claims["exp"] - claims["iat"] == 120 and claims["nbf"] == claims["iat"]
    assert abs(arm.expires_on - (time.time() + 120)) < 5
    assert verified_claims(env, aks.token, AKS_SERVER_APP)["appidacr"] == "1"  # a secret
    assert [(c.scope, c.grant, c.status) for c in entra.calls()] == [
        (ARM_SCOPE, "secret", 200), (AKS_SCOPE, "secret", 200)]


def test_workload_identity_exchanges_the_clusters_service_account_token(
        env: ArmEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entra = env.arm.entra
    access = ClusterAccess(entra, tmp_path / "wi", "westeurope")
    token_file = access.token_file.write()
    use_environment(monkeypatch, env, AZURE_FEDERATED_TOKEN_FILE=str(token_file))
    monkeypatch.delenv("AZURE_CLIENT_SECRET", raising=False)

    token = DefaultAzureCredential().get_token(ARM_SCOPE).token

    assert verified_claims(env, token, "https://management.azure.com")["appidacr"] == "2"
    assert [c.grant for c in entra.calls()] == ["assertion"]
    assertion = jwt.decode(token_file.read_text(), options={"verify_signature": False})
    assert assertion["iss"] == access.issuer.url
    assert assertion["sub"] == "system:serviceaccount:mesh-upgrade-bot:mesh-upgrade-bot"
    assert assertion["aud"] == ["api://AzureADTokenExchange"]


def test_the_tenant_refuses_a_wrong_secret_a_foreign_subject_and_an_unknown_resource(
        env: ArmEnv, tmp_path: Path) -> None:
    entra = env.arm.entra

    def credential(secret: str) -> ClientSecretCredential:
        return ClientSecretCredential(entra.tenant.tenant_id, entra.bot.client_id, secret,
                                      authority=entra.base_url, connection_verify=str(env.ca_path),
                                      disable_instance_discovery=True)

    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215: Invalid client secret"):
        credential("not-the-secret").get_token(ARM_SCOPE)
    with pytest.raises(ClientAuthenticationError, match=r"AADSTS500011: The resource principal "
                       r"named https://vault\.azure\.net was not found"):
        credential(entra.bot_secret).get_token("https://vault.azure.net/.default")

    stranger = OidcIssuer("westeurope", entra.tenant.tenant_id)
    entra.tenant.trust(stranger)  # a trusted issuer, but no federated credential names its pod
    token_file = tmp_path / "token"
    token_file.write_text(stranger.service_account_token("default", "intruder"))
    wi = WorkloadIdentityCredential(tenant_id=entra.tenant.tenant_id,
                                    client_id=entra.bot.client_id, token_file_path=str(token_file),
                                    authority=entra.base_url, connection_verify=str(env.ca_path))
    with pytest.raises(ClientAuthenticationError, match=r"AADSTS70021: No matching federated "
                       r"identity record.*Assertion Subject: 'system:serviceaccount:default:"
                       r"intruder'"):
        wi.get_token(ARM_SCOPE)
    assert [c.status for c in entra.calls()] == [401, 400, 400]


def test_msal_metadata_and_instance_discovery_answer_for_this_host_only(env: ArmEnv) -> None:
    base, tenant = env.arm.entra.base_url, env.arm.entra.tenant.tenant_id
    config = get_json(env, f"{base}/{tenant}/v2.0/.well-known/openid-configuration")
    assert config["token_endpoint"] == f"{base}/{tenant}/oauth2/v2.0/token"
    assert config["authorization_endpoint"] == f"{base}/{tenant}/oauth2/v2.0/authorize"
    ours = get_json(env, f"{base}/common/discovery/instance?api-version=1.1&"
                         f"authorization_endpoint={base}/{tenant}/oauth2/v2.0/authorize")
    assert ours["tenant_discovery_endpoint"] == (
        f"{base}/{tenant}/v2.0/.well-known/openid-configuration")
    other = get_json(env, f"{base}/common/discovery/instance?api-version=1.1&"
                          "authorization_endpoint=https://login.example.org/t/oauth2/v2.0/authorize")
    assert other["error"] == "invalid_instance"
