"""What the bot's identity may do on a cluster, as ARM reports it: a write checked without writing.

`GET {cluster id}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01`
(Permissions_ListForResource, azure-rest-api-specs authorization/.../stable/2022-04-01/
authorization-RoleDefinitionsCalls.json) answers `{"value": [{"actions", "notActions",
"dataActions", "notDataActions"}], "nextLink"?}`: an entry per role the caller holds at or
above the scope. An action is granted when one entry's `actions` match it and the same
entry's `notActions` do not: notActions are "excluded but not denied" (Azure docs), another
role may grant the action again. `*` matches any characters; actions are case-insensitive.
azure-mgmt-authorization is not a dependency: the request goes through the
ContainerServiceClient's own pipeline (`send_request`), so it has the bot's credential, the
retry policy and the CA of every other ARM call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache

from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.rest import HttpRequest
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.core.exceptions import ARMErrorFormat

from bot.azure.client import build_client
from bot.azure.connect import ArmEndpoint
from bot.azure.errors import arm_errors
from bot.config.identity import token_object_id
from bot.config.settings import ClusterConfig

API_VERSION = "2022-04-01"
READ_PERMISSIONS = "Microsoft.Authorization/permissions/read"
ARM_SCOPE = "https://management.azure.com/.default"


@dataclass(frozen=True)
class Grant:
    """One entry of ARM's answer: a role's control-plane actions."""

    actions: tuple[str, ...]
    not_actions: tuple[str, ...] = ()

    def allows(self, action: str) -> bool:
        return _any_match(self.actions, action) and not _any_match(self.not_actions, action)


def granted(grants: Iterable[Grant], action: str) -> bool:
    return any(g.allows(action) for g in grants)


def cluster_id(cfg: ClusterConfig) -> str:
    return (f"/subscriptions/{cfg.subscription_id}/resourceGroups/{cfg.resource_group}"
            f"/providers/Microsoft.ContainerService/managedClusters/{cfg.cluster_name}")


def cluster_permissions(cfg: ClusterConfig, arm: ArmEndpoint) -> list[Grant]:
    """The bot's grants on `cfg`'s cluster; RetryLater or GiveUp when ARM does not answer."""
    client = build_client(cfg.subscription_id, arm.token_credential, arm.base_url, arm.ca_file)
    with client, arm_errors(cfg.name, "read its own permissions", READ_PERMISSIONS):
        return list(_pages(client, f"{cluster_id(cfg)}/providers/Microsoft.Authorization"
                                   f"/permissions?api-version={API_VERSION}"))


def principal_id(arm: ArmEndpoint) -> str | None:
    """The bot's object id, from its ARM token (what `az role assignment create` names)."""
    try:
        return token_object_id(arm.token_credential.get_token(ARM_SCOPE).token)
    except AzureError:
        return None


def _pages(client: ContainerServiceClient, url: str | None) -> Iterator[Grant]:
    while url:
        response = client.send_request(HttpRequest("GET", url))
        if response.status_code != 200:
            raise HttpResponseError(response=response, error_format=ARMErrorFormat)
        body = response.json()
        for entry in body.get("value") or []:
            yield Grant(tuple(entry.get("actions") or ()), tuple(entry.get("notActions") or ()))
        url = body.get("nextLink")  # absolute: the pipeline leaves it as it is


def _any_match(patterns: Iterable[str], action: str) -> bool:
    return any(_pattern(p).fullmatch(action) for p in patterns)


@cache
def _pattern(wildcard: str) -> re.Pattern[str]:
    return re.compile(".*".join(map(re.escape, wildcard.split("*"))), re.IGNORECASE)
