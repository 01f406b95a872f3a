"""Every permission the bot needs, in one place: Kubernetes RBAC, Azure RBAC and Slack scopes.

`doctor` checks each of them (a SelfSubjectAccessReview per Kubernetes permission) and prints
the rule to add for a missing one; deploy/'s RBAC test imports the same lists, so the shipped
ClusterRole and what the code calls cannot drift apart. Each entry names the phases that need
it: an operator who grants less learns which part of an upgrade will stop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from bot.azure.errors import (
    LIST_USER_CREDENTIALS,
    READ_CLUSTER,
    READ_MAINTENANCE,
    READ_OPERATION,
    READ_REVISIONS,
    READ_UPGRADES,
    WRITE_CLUSTER,
)
from bot.upgrade.addon import INGRESS_NAMESPACE, ISTIO_NAMESPACE, tag_webhook_name
from bot.upgrade.phases import Phase

ALL_NAMESPACES = ""  # an empty namespace: every namespace, or a cluster-scoped resource
P = Phase
PLAN = (P.PLANNED,)
CHECKS = (P.CANARY_READY, P.VERIFYING, P.AWAITING_DECISION, P.PATCH_VERIFYING)
RESTARTS = (P.ROLLING, P.ROLLING_BACK, P.PATCH_RESTARTING)
TAGS = (P.STARTING, P.ROLLING, P.COMPLETING, P.ROLLING_BACK)


@dataclass(frozen=True)
class Permission:
    """One Kubernetes RBAC permission: `verb` on `group`/`resource` in `namespace`."""

    verb: str
    group: str  # "" is the core group
    resource: str
    namespace: str
    phases: tuple[Phase, ...]
    why: str
    name: str = ""  # one object only (RBAC resourceNames); "" any

    @property
    def role_kind(self) -> str:
        return "ClusterRole" if self.namespace == ALL_NAMESPACES else "Role"

    def __str__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else " (cluster-wide)"
        named = f"/{self.name}" if self.name else ""
        return f"{self.verb} {self.group or 'core'}/{self.resource}{named}{where}"

    def review_attributes(self) -> dict[str, str]:
        """`spec.resourceAttributes` of a SelfSubjectAccessReview asking for this."""
        attrs = {"verb": self.verb, "group": self.group, "resource": self.resource}
        if self.name:
            attrs["name"] = self.name
        return {**attrs, "namespace": self.namespace} if self.namespace else attrs


def _p(verbs: str, group: str, resource: str, namespace: str, phases: Iterable[Phase],
       why: str) -> list[Permission]:
    return [Permission(v, group, resource, namespace, tuple(phases), why) for v in verbs.split()]


# What the Kubernetes adapter (bot/kube/cluster.py and its modules) calls, verb by verb.
KUBERNETES: tuple[Permission, ...] = tuple(
    _p("list", "", "pods", ALL_NAMESPACES, (*PLAN, P.STARTING, *CHECKS, P.PATCH_PLANNED),
       "sidecar census, workload health, istiod readiness")
    + _p("list", "", "configmaps", ISTIO_NAMESPACE, (*PLAN, *CHECKS, P.PATCH_PLANNED),
         "the injector's proxy image per revision")
    + _p("get create", "", "configmaps", ISTIO_NAMESPACE, (P.STARTING,),
         "copy the shared MeshConfig to the new revision")
    + _p("delete", "", "configmaps", ISTIO_NAMESPACE, (P.COMPLETING, P.ROLLING_BACK),
         "remove the shared MeshConfig of the revision that goes")
    + _p("get list", "", "namespaces", ALL_NAMESPACES, (*PLAN, *RESTARTS, *CHECKS),
         "which namespaces inject which revision")
    + _p("patch", "", "namespaces", ALL_NAMESPACES, (P.ROLLING, P.ROLLING_BACK),
         "relabel istio.io/rev on namespaces that use no tag")
    + _p("list", "admissionregistration.k8s.io", "mutatingwebhookconfigurations",
         ALL_NAMESPACES, (*PLAN, *TAGS, *CHECKS), "read the revision tags")
    + _p("create update delete", "admissionregistration.k8s.io",
         "mutatingwebhookconfigurations", ALL_NAMESPACES, TAGS,
         "create and move the stable and canary tags (istioctl tag)")
    + [perm for kind in ("deployments", "statefulsets", "daemonsets")
       for perm in _p("get list watch patch", "apps", kind, ALL_NAMESPACES,
                      (*RESTARTS, P.STARTING, *CHECKS),
                      "rollout restart in waves and watch each rollout; workload health")]
    + [perm for ns in (ISTIO_NAMESPACE, INGRESS_NAMESPACE)
       for perm in _p("list", "autoscaling", "horizontalpodautoscalers", ns, CHECKS,
                      "compare the control planes' autoscalers")]
)


def leader_election(namespace: str) -> tuple[Permission, ...]:
    """The Lease that elects the active replica (bot/kube/lease.py), in the bot's namespace."""
    return tuple(_p("get create update", "coordination.k8s.io", "leases", namespace, (),
                    "leader election between replicas"))


@dataclass(frozen=True)
class ArmAction:
    """An Azure RBAC action on the managed cluster (or its location)."""

    action: str
    phases: tuple[Phase, ...]
    why: str
    at_cluster: bool  # under the cluster's id; else under the subscription's location
    role: str  # the least built-in role that holds it (role definitions: "Azure built-in roles")


READER = "Reader"  # */read
AKS_CONTRIBUTOR = "Azure Kubernetes Service Contributor Role"  # managedClusters/read, write
AKS_CLUSTER_USER = "Azure Kubernetes Service Cluster User Role"  # + listClusterUserCredential
ARM: tuple[ArmAction, ...] = (
    ArmAction(READ_CLUSTER, tuple(Phase), "read the mesh revisions and cluster state", True,
              READER),
    ArmAction(READ_UPGRADES, PLAN, "the upgrades AKS offers (az aks mesh get-upgrades)", True,
              READER),
    ArmAction(READ_REVISIONS, PLAN, "revision compatibility (az aks mesh get-revisions)", False,
              READER),
    ArmAction(LIST_USER_CREDENTIALS, tuple(Phase),
              "a kubeconfig for the cluster (access mode arm_credentials)", True,
              AKS_CLUSTER_USER),
    ArmAction(WRITE_CLUSTER, (P.STARTING, P.COMPLETING, P.ROLLING_BACK),
              "change the mesh revisions (start, complete, roll back)", True, AKS_CONTRIBUTOR),
    ArmAction(READ_OPERATION, (P.STARTING, P.COMPLETING, P.ROLLING_BACK),
              "follow the long-running operation", False, READER),
    ArmAction(READ_MAINTENANCE, PLAN,
              "AKS planned-maintenance windows (az aks maintenanceconfiguration list)", True,
              READER),
)
# deploy/azure/ holds custom roles with exactly these actions, one per scope.
CLUSTER_CUSTOM_ROLE = "Mesh Upgrade Bot (cluster)"


def arm_actions(kubeconfig_from_arm: bool) -> tuple[ArmAction, ...]:
    """The actions the bot needs at a cluster's scope (a user kubeconfig only when it gets
    its kubeconfig from ARM)."""
    return tuple(a for a in ARM if a.at_cluster
                 and (kubeconfig_from_arm or a.action != LIST_USER_CREDENTIALS))


def arm_role_advice(missing: Iterable[ArmAction], principal: str | None, scope: str) -> str:
    """What to grant for the `missing` ARM actions at the cluster `scope`."""
    roles = list(dict.fromkeys(a.role for a in missing))
    assignee = principal or "<the bot identity object id>"
    commands = "; ".join(f'az role assignment create --assignee {assignee} --role "{r}" '
                         f"--scope {scope}" for r in roles)
    return (f"grant {', '.join(roles)}: {commands} (or the custom role "
            f'"{CLUSTER_CUSTOM_ROLE}" of deploy/azure/, which holds exactly the bot\'s actions)')


# Azure RBAC for Kubernetes authorization (an AKS cluster with Entra ID and Azure RBAC): the
# authorizer's refusal (guard's AccessNotAllowedVerdict) and the built-in roles, least first.
# Reader reads most namespaced objects and namespaces; Writer also changes the namespaced ones
# (and secrets, leases); Admin everything but writing namespaces and resource quotas; Cluster
# Admin everything (the role definitions' data actions).
AZURE_RBAC_DENIED = "User does not have access to the resource in Azure"
AKS_RBAC_ROLES = tuple(f"Azure Kubernetes Service RBAC {r}"
                       for r in ("Reader", "Writer", "Admin", "Cluster Admin"))
_READS = frozenset({"get", "list", "watch"})
_WORKLOADS = frozenset({("", "pods"), ("", "configmaps"), ("", "services"), ("", "endpoints"),
                        ("", "events"), ("", "serviceaccounts"), ("", "persistentvolumeclaims"),
                        ("", "replicationcontrollers"), ("apps", "deployments"),
                        ("apps", "statefulsets"), ("apps", "daemonsets"), ("apps", "replicasets"),
                        ("autoscaling", "horizontalpodautoscalers"), ("batch", "jobs"),
                        ("batch", "cronjobs"), ("policy", "poddisruptionbudgets"),
                        ("networking.k8s.io", "ingresses"),
                        ("networking.k8s.io", "networkpolicies")})
_READ_ONLY = frozenset({("", "namespaces"), ("", "resourcequotas"), ("", "limitranges"),
                        ("apps", "controllerrevisions"), ("discovery.k8s.io", "endpointslices")})
_WRITER_EXTRA = frozenset({("", "secrets"), ("coordination.k8s.io", "leases")})


def least_aks_role(p: Permission) -> str:
    """The least built-in AKS RBAC role that allows `p`."""
    what = (p.group, p.resource)
    if p.verb in _READS and what in _WORKLOADS | _READ_ONLY:
        return AKS_RBAC_ROLES[0]
    if what in _WORKLOADS | _WRITER_EXTRA:
        return AKS_RBAC_ROLES[1]
    if what not in {("", "namespaces"), ("", "resourcequotas")}:
        return AKS_RBAC_ROLES[2]
    return AKS_RBAC_ROLES[3]


def least_aks_role_for(permissions: Iterable[Permission]) -> str:
    """The least built-in AKS RBAC role that allows all of `permissions`."""
    return max((least_aks_role(p) for p in permissions), key=AKS_RBAC_ROLES.index,
               default=AKS_RBAC_ROLES[0])


def azure_role_advice(denied: list[Permission], principal: str | None, scope: str) -> str:
    """What to grant when Azure RBAC denied `denied` to `principal` on the cluster `scope`."""
    role = least_aks_role_for(denied)
    return (f"missing role {role} (the least built-in role that allows all {len(denied)} denied "
            "permissions; Kubernetes RBAC rules below work too): az role assignment create "
            f"--assignee {principal or '<the bot identity object id>'} --role \"{role}\" "
            f"--scope {scope}")


@dataclass(frozen=True)
class Scope:
    name: str
    why: str


# Bot token scopes (OAuth & Permissions > Bot Token Scopes), as x-oauth-scopes names them.
SLACK_BOT_SCOPES: tuple[Scope, ...] = (
    Scope("commands", "the /mesh-upgrade slash command"),
    Scope("chat:write", "post and update the run card and its thread"),
    Scope("files:write", "share charts and long reports (files_upload_v2)"),
    Scope("usergroups:read", "resolve approver groups at click time"),
    Scope("channels:read", "check that the bot is in each cluster's channel"),
    Scope("channels:history", "find a run's card again after a crash (message metadata)"),
)
SLACK_APP_SCOPES: tuple[Scope, ...] = (
    Scope("connections:write", "open Socket Mode connections"),
)


def rbac_rules(missing: Iterable[Permission]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Missing permissions as RBAC rules, merged per (role kind, namespace), resource and
    object name."""
    verbs: dict[tuple[str, str, str, str, str], list[str]] = {}
    for p in missing:
        key = (p.role_kind, p.namespace, p.group, p.resource, p.name)
        verbs.setdefault(key, [])
        if p.verb not in verbs[key]:
            verbs[key].append(p.verb)
    rules: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for (kind, namespace, group, resource, name), vs in verbs.items():
        rule: dict[str, Any] = {"apiGroups": [group], "resources": [resource], "verbs": vs}
        if name:
            rule["resourceNames"] = [name]
        rules.setdefault((kind, namespace), []).append(rule)
    return rules


# Verbs the shipped ClusterRole grants on tag webhooks by name only (deploy/base/rbac.yaml).
_BY_TAG_NAME = frozenset({("admissionregistration.k8s.io", "mutatingwebhookconfigurations",
                           verb) for verb in ("update", "delete")})


def for_tags(tags: Iterable[str]) -> tuple[Permission, ...]:
    """KUBERNETES as a cluster's RBAC may grant it: update and delete on the tag webhooks
    asked for each of the cluster's tags by name, as the API server will ask."""
    names = [tag_webhook_name(t) for t in dict.fromkeys(tags)]
    out: list[Permission] = []
    for p in KUBERNETES:
        if (p.group, p.resource, p.verb) in _BY_TAG_NAME:
            out += [replace(p, name=n) for n in names]
        else:
            out.append(p)
    return tuple(out)
