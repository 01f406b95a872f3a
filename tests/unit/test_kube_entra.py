"""Entra ID clusters on the bot's side, without a server: which kubeconfig users need the bot's
own tokens (and for which server app), when a token is renewed, whose token it is, and which
built-in AKS RBAC role allows what the bot needs."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from kubernetes import client as kube

from bot.kube.client import (
    AKS_SERVER_APP,
    BearerTokens,
    entra_server_id,
    token_principal,
    without_user_auth,
)
from bot.runtime.permissions import (
    AKS_RBAC_ROLES,
    KUBERNETES,
    Permission,
    leader_election,
    least_aks_role,
    least_aks_role_for,
)

READER, WRITER, ADMIN, CLUSTER_ADMIN = AKS_RBAC_ROLES


def kubeconfig(user: dict[str, Any]) -> dict[str, Any]:
    return {"current-context": "c", "contexts": [{"name": "c", "context": {"cluster": "c",
                                                                          "user": "u"}}],
            "clusters": [{"name": "c", "cluster": {"server": "https://aks:443",
                                                   "certificate-authority-data": "Q0E="}}],
            "users": [{"name": "u", "user": user}]}


KUBELOGIN = {"exec": {"command": "kubelogin", "args": [
    "get-token", "--environment", "AzurePublicCloud", "--server-id", "legacy-server-app",
    "--client-id", "80faf920-1908-4b52-b5ef-a8e7bedfc67a", "--tenant-id", "t", "--login",
    "devicecode"]}}


@pytest.mark.parametrize("user,server_id", [
    (KUBELOGIN, "legacy-server-app"),
    ({"exec": {"command": "/usr/local/bin/kubelogin", "args": ["get-token", "--login",
                                                               "azurecli"]}}, AKS_SERVER_APP),
    ({"exec": {"command": "kubelogin", "args": ["get-token", "--server-id=x"]}}, "x"),
    ({"auth-provider": {"name": "azure", "config": {"apiserver-id": "y"}}}, "y"),
    ({"token": "static"}, None),
    ({"exec": {"command": "aws", "args": ["eks", "get-token"]}}, None),
])
def test_which_users_need_entra_tokens_and_for_which_server_app(
        user: dict[str, Any], server_id: str | None) -> None:
    assert entra_server_id(kubeconfig(user), None) == server_id


def test_the_kubeconfig_keeps_server_and_ca_without_the_plugin() -> None:
    original = kubeconfig(KUBELOGIN)
    stripped = without_user_auth(original, "c")
    assert stripped["users"] == [{"name": "u", "user": {}}]
    assert stripped["clusters"] == original["clusters"]
    assert original["users"][0]["user"] == KUBELOGIN  # the input is left alone


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_is_renewed_five_minutes_ahead_or_half_way_through_a_short_one() -> None:
    clock, asked = Clock(), list[str]()

    def source(scope: str) -> tuple[str, float]:
        asked.append(scope)
        lifetime = 3600.0 if len(asked) == 1 else 4.0
        return f"t{len(asked)}", clock.now + lifetime

    tokens = BearerTokens(source, "app/.default", clock)
    assert tokens.header() == "Bearer t1"
    clock.now += 3600 - 301
    assert tokens.header() == "Bearer t1"  # 5 min 1 s left: still good
    clock.now += 1
    assert tokens.header() == "Bearer t2"  # now 5 min left: renewed, for 4 s
    clock.now += 1.9
    assert tokens.header() == "Bearer t2"
    clock.now += 0.1
    assert tokens.header() == "Bearer t3"  # half of the 4 s gone
    assert asked == ["app/.default"] * 3


def test_the_hook_sets_the_header_the_client_and_census_worker_read() -> None:
    configuration = kube.Configuration()
    BearerTokens(lambda scope: ("abc", 1e12), "s").hook(configuration)
    assert configuration.get_api_key_with_prefix("authorization") == "Bearer abc"
    assert configuration.auth_settings()["BearerToken"]["value"] == "Bearer abc"


def test_the_principal_is_read_from_the_tokens_oid_claim() -> None:
    payload = base64.urlsafe_b64encode(json.dumps({"oid": "o-1"}).encode()).decode().rstrip("=")
    configuration = kube.Configuration()
    configuration.api_key = {"authorization": f"Bearer e30.{payload}.sig"}
    assert token_principal(kube.ApiClient(configuration)) == "o-1"
    configuration.api_key = {"authorization": "Bearer static-token"}
    assert token_principal(kube.ApiClient(configuration)) is None


def perm(verb: str, group: str, resource: str) -> Permission:
    return Permission(verb, group, resource, "", (), "")


@pytest.mark.parametrize("permission,role", [
    (perm("list", "", "pods"), READER),
    (perm("get", "", "namespaces"), READER),
    (perm("patch", "apps", "deployments"), WRITER),
    (perm("create", "", "configmaps"), WRITER),
    (perm("get", "coordination.k8s.io", "leases"), WRITER),
    (perm("list", "admissionregistration.k8s.io", "mutatingwebhookconfigurations"), ADMIN),
    (perm("patch", "", "namespaces"), CLUSTER_ADMIN),
])
def test_the_least_built_in_role_for_a_permission(permission: Permission, role: str) -> None:
    assert least_aks_role(permission) == role


def test_everything_the_bot_needs_takes_cluster_admin_and_its_lease_a_writer() -> None:
    assert least_aks_role_for(KUBERNETES) == CLUSTER_ADMIN  # namespaces are relabelled
    assert least_aks_role_for(leader_election("mesh-upgrade-bot")) == WRITER
