"""The kubernetes ApiClient of a cluster, built the way its `access` section says.

`kubeconfig` reads a file, `in_cluster` the pod's service account, `arm_credentials` the
kubeconfig ARM hands out (listClusterUserCredential, given as `user_kubeconfig`). Its user
agent names the replica, so the API server's audit log says which one acted.

Entra ID clusters: for a cluster with AKS-managed Entra ID, ARM's kubeconfig runs `kubelogin
get-token --server-id <AKS server app> ...` (or, with `format=azure`, the legacy
`auth-provider: azure` with `apiserver-id`). The bot runs no plugin: it keeps the server and
CA of that kubeconfig and sends `Authorization: Bearer <token>` for `<server id>/.default`,
asked of `tokens` (the azure-identity credential it uses for ARM, bot/azure/connect.py). The
kubernetes client asks for the header before every request
(`Configuration.refresh_api_key_hook`, also read by the census worker), and `BearerTokens`
renews it ahead of expiry: 5 minutes before, like azure-core's BearerTokenCredentialPolicy, or
half-way through a token that lives less than 10 minutes.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import yaml
from kubernetes import client as kube_client
from kubernetes import config as kube_config
from kubernetes.config.config_exception import ConfigException

from bot.config.identity import token_object_id, user_agent
from bot.upgrade.errors import GiveUp

if TYPE_CHECKING:
    from bot.config.settings import AccessConfig

# scope -> (access token, expiry as epoch seconds); bot/azure/connect.py gives one.
TokenSource = Callable[[str], tuple[str, float]]
AKS_SERVER_APP = "6dae42f8-4368-4678-94ff-3960e28e3630"  # the same in every cloud (kubelogin)
REFRESH_BEFORE = 300.0


def kube_api_client(access: AccessConfig, user_kubeconfig: Callable[[], str | bytes] | None = None,
                    label: str = "", tokens: TokenSource | None = None) -> kube_client.ApiClient:
    """An ApiClient per the access mode (ARM credentials need `user_kubeconfig`, and `tokens`
    for an Entra ID cluster); errors become GiveUp naming `label` (the cluster, or what the
    client is for)."""
    api = _new_api_client(access, user_kubeconfig, label, tokens)
    api.user_agent = user_agent()
    return api


def kubeconfig_client(path: str, context: str | None = None) -> kube_client.ApiClient:
    """An ApiClient from a kubeconfig file (for `census`, which needs no configuration)."""
    try:
        return _from_kubeconfig(path, context)
    except (ConfigException, OSError) as exc:
        raise GiveUp(f"Cannot reach the Kubernetes API through the kubeconfig {path}: {exc}",
                     "Check --kubeconfig and --context.") from None


def _from_kubeconfig(path: str, context: str | None) -> kube_client.ApiClient:
    api: kube_client.ApiClient = kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
        path, context)
    api.user_agent = user_agent()
    return api


def _new_api_client(access: AccessConfig, user_kubeconfig: Callable[[], str | bytes] | None,
                    where: str, tokens: TokenSource | None) -> kube_client.ApiClient:
    from bot.config.settings import AccessMode

    try:
        if access.mode is AccessMode.KUBECONFIG:
            return _from_kubeconfig(str(access.kubeconfig), access.context)
        if access.mode is AccessMode.IN_CLUSTER:
            configuration = kube_client.Configuration()
            kube_config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration)
            return kube_client.ApiClient(configuration)
        if user_kubeconfig is None:
            raise ConfigException("ARM credentials need the cluster's ARM adapter")
        document = yaml.safe_load(user_kubeconfig())
        server_id = entra_server_id(document, access.context)
        if server_id is not None:
            return _entra_client(document, access.context, server_id, tokens, where)
        api: kube_client.ApiClient = kube_config.new_client_from_config_dict(  # type: ignore[no-untyped-call]
            document, access.context)
        return api
    except (ConfigException, OSError, yaml.YAMLError) as exc:
        raise GiveUp(f"Cannot reach the Kubernetes API of {where} ({access.mode}): {exc}",
                     "Check the cluster's access section in the configuration.") from None


def _entra_client(document: dict[str, Any], context: str | None, server_id: str,
                  tokens: TokenSource | None, where: str) -> kube_client.ApiClient:
    """The server and CA of ARM's kubeconfig, with bearer tokens for the AKS server app."""
    if tokens is None:
        raise GiveUp(f"The kubeconfig ARM returned for {where} runs kubelogin (Entra ID), and "
                     "the bot was given no Azure credential for its tokens.",
                     "Run the bot with access mode arm_credentials and its Azure identity.")
    configuration = kube_client.Configuration()
    kube_config.load_kube_config_from_dict(  # type: ignore[no-untyped-call]
        without_user_auth(document, context), context, client_configuration=configuration,
        persist_config=False)
    bearer = BearerTokens(tokens, f"{server_id}/.default")
    bearer.hook(configuration)  # the first token now: a refusal shows at connect time
    configuration.refresh_api_key_hook = bearer.hook  # type: ignore[assignment]
    return kube_client.ApiClient(configuration)


# --- Entra ID clusters ------------------------------------------------------------------------


class BearerTokens:
    """The Authorization header of one Entra ID cluster, renewed ahead of expiry; thread-safe."""

    def __init__(self, source: TokenSource, scope: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.source, self.scope, self.clock = source, scope, clock
        self._lock = threading.Lock()
        self._token = ""
        self._renew_at = 0.0

    def header(self) -> str:
        with self._lock:
            now = self.clock()
            if not self._token or now >= self._renew_at:
                self._token, expires_on = self.source(self.scope)
                self._renew_at = expires_on - min(REFRESH_BEFORE, (expires_on - now) / 2)
            return f"Bearer {self._token}"

    def hook(self, configuration: kube_client.Configuration) -> None:
        """`refresh_api_key_hook`: the key the client sends (as in-cluster config keeps it)."""
        configuration.api_key["authorization"] = self.header()


def token_principal(api: kube_client.ApiClient) -> str | None:
    """The object id the client's Entra ID token names (its `oid` claim), unverified: what a
    role assignment must name. None for a client without such a token."""
    header = str(api.configuration.api_key.get("authorization") or "")
    return token_object_id(header.removeprefix("Bearer "))


def entra_server_id(document: dict[str, Any], context: str | None) -> str | None:
    """The AKS server application the kubeconfig's user gets tokens for; None for a user that
    needs no Entra ID (a token, a certificate)."""
    user = _user(document, context)
    plugin = user.get("exec") or {}
    if PurePath(str(plugin.get("command", ""))).name.startswith("kubelogin"):
        return _flag(plugin.get("args") or [], "--server-id") or AKS_SERVER_APP
    provider = user.get("auth-provider") or {}
    if provider.get("name") == "azure":
        return str((provider.get("config") or {}).get("apiserver-id") or AKS_SERVER_APP)
    return None


def without_user_auth(document: dict[str, Any], context: str | None) -> dict[str, Any]:
    """The kubeconfig with its user's credentials removed: the server and CA stay."""
    stripped = copy.deepcopy(document)
    name = _context(stripped, context).get("user")
    for entry in stripped.get("users") or []:
        if entry.get("name") == name:
            entry["user"] = {}
    return stripped


def _context(document: dict[str, Any], context: str | None) -> dict[str, Any]:
    wanted = context or document.get("current-context")
    for entry in document.get("contexts") or []:
        if entry.get("name") == wanted:
            found: dict[str, Any] = entry.get("context") or {}
            return found
    return {}


def _user(document: dict[str, Any], context: str | None) -> dict[str, Any]:
    name = _context(document, context).get("user")
    for entry in document.get("users") or []:
        if entry.get("name") == name:
            found: dict[str, Any] = entry.get("user") or {}
            return found
    return {}


def _flag(args: list[Any], flag: str) -> str | None:
    for i, arg in enumerate(args):
        text = str(arg)
        if text == flag and i + 1 < len(args):
            return str(args[i + 1])
        if text.startswith(flag + "="):
            return text.split("=", 1)[1]
    return None
