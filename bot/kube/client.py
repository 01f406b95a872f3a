"""The kubernetes ApiClient of a cluster, built the way its `access` section says.

`kubeconfig` reads a file, `in_cluster` the pod's service account, `arm_credentials` the
kubeconfig ARM hands out (listClusterUserCredential, given as `user_kubeconfig`). Its user
agent names the replica, so the API server's audit log says which one acted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import yaml
from kubernetes import client as kube_client
from kubernetes import config as kube_config
from kubernetes.config.config_exception import ConfigException

from bot.config.identity import user_agent
from bot.upgrade.errors import GiveUp

if TYPE_CHECKING:
    from bot.config.settings import AccessConfig


def kube_api_client(access: AccessConfig, user_kubeconfig: Callable[[], str | bytes] | None = None,
                    label: str = "") -> kube_client.ApiClient:
    """An ApiClient per the access mode (ARM credentials need `user_kubeconfig`); errors
    become GiveUp naming `label` (the cluster, or what the client is for)."""
    api = _new_api_client(access, user_kubeconfig, label)
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
                    where: str) -> kube_client.ApiClient:
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
        api: kube_client.ApiClient = kube_config.new_client_from_config_dict(  # type: ignore[no-untyped-call]
            document, access.context)
        return api
    except (ConfigException, OSError, yaml.YAMLError) as exc:
        raise GiveUp(f"Cannot reach the Kubernetes API of {where} ({access.mode}): {exc}",
                     "Check the cluster's access section in the configuration.") from None
