"""Azure RBAC for Kubernetes authorization: the AKS built-in roles and their assignments.

A Kubernetes request becomes a data action the way AKS's authorizer (guard) builds it:
`Microsoft.ContainerService/managedClusters/<group>/<resource>/<read|write|delete>` (get, list
and watch read; create, update and patch write; delete and deletecollection delete), checked
at the cluster's resource id, or `<cluster id>/namespaces/<ns>` for a namespaced request. A role
assignment at a scope covers everything under it. The roles' data actions are those of the
built-in role definitions (Reader 7f6c6a51-..., Writer a7ffa36f-..., Admin 3498e952-...,
Cluster Admin b1ff04bb-...).

The ARM roles an operator grants the bot on a cluster are here too, with their control-plane
`actions` as published ("Azure built-in roles for Containers" and "... for General"): Reader,
Contributor, Azure Kubernetes Service Contributor Role and Cluster User Role. `permissions`
answers ARM's `Microsoft.Authorization/permissions` from them: one entry per assignment at or
above the scope, as Azure lists them; `notActions` only narrow their own entry (Azure: "excluded
but not denied"), and `*` matches any run of characters, case-insensitively.
"""

from __future__ import annotations

import fnmatch
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from meshsim.kube.requestinfo import RequestAttributes

PREFIX = "Microsoft.ContainerService/managedClusters/"
DENIED = ("User does not have access to the resource in Azure. Update role assignment to "
          "allow access.")  # guard's AccessNotAllowedVerdict
ALLOWED = "Access allowed by Azure RBAC Role Assignment {id} of Role {role} to user {user}"
VERBS = {"get": "read", "list": "read", "watch": "read", "create": "write", "update": "write",
         "patch": "write", "delete": "delete", "deletecollection": "delete"}

# The namespaced objects the Reader may read and the Writer may also change (role definitions).
_READ_ONLY = ("apps/controllerrevisions", "discovery.k8s.io/endpointslices",
              "events.k8s.io/events", "limitranges", "namespaces", "resourcequotas",
              "metrics.k8s.io/pods", "metrics.k8s.io/nodes")
_WORKLOADS = ("apps/daemonsets", "apps/deployments", "apps/replicasets", "apps/statefulsets",
              "autoscaling/horizontalpodautoscalers", "batch/cronjobs", "batch/jobs",
              "configmaps", "endpoints", "events", "extensions/daemonsets",
              "extensions/deployments", "extensions/ingresses", "extensions/networkpolicies",
              "extensions/replicasets", "networking.k8s.io/ingresses",
              "networking.k8s.io/networkpolicies", "persistentvolumeclaims", "pods",
              "policy/poddisruptionbudgets", "replicationcontrollers", "serviceaccounts",
              "services")


@dataclass(frozen=True)
class Role:
    name: str
    id: str
    data_actions: tuple[str, ...]
    not_data_actions: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()  # ARM control-plane actions
    not_actions: tuple[str, ...] = ()

    def allows(self, action: str) -> bool:
        def hit(patterns: tuple[str, ...]) -> bool:
            return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)

        return hit(self.data_actions) and not hit(self.not_data_actions)

    def permission(self) -> dict[str, list[str]]:
        """The role's entry in ARM's `Microsoft.Authorization/permissions` answer."""
        return {"actions": list(self.actions), "notActions": list(self.not_actions),
                "dataActions": list(self.data_actions),
                "notDataActions": list(self.not_data_actions)}


def _actions(resources: tuple[str, ...], verbs: str) -> tuple[str, ...]:
    return tuple(f"{PREFIX}{r}/{v}" for r in resources for v in verbs.split())


# The AKS RBAC roles' control-plane actions; Admin and Cluster Admin may also fetch a kubeconfig.
_RBAC_ACTIONS = ("Microsoft.Authorization/*/read",
                 "Microsoft.Resources/subscriptions/operationresults/read",
                 "Microsoft.Resources/subscriptions/read",
                 "Microsoft.Resources/subscriptions/resourceGroups/read")
_USER_CREDENTIAL = "Microsoft.ContainerService/managedClusters/listClusterUserCredential/action"
_CLUSTER_READ = "Microsoft.ContainerService/managedClusters/read"

ROLES: dict[str, Role] = {r.name.lower(): r for r in (
    Role("Azure Kubernetes Service RBAC Reader", "7f6c6a51-bcf8-42ba-9220-52d62157d7db",
         _actions(_READ_ONLY + _WORKLOADS, "read"), actions=_RBAC_ACTIONS),
    Role("Azure Kubernetes Service RBAC Writer", "a7ffa36f-339b-4b5c-8bdf-e2c188b2c0eb",
         _actions(_READ_ONLY, "read") + _actions((*_WORKLOADS, "secrets"), "*")
         + _actions(("coordination.k8s.io/leases",), "read write delete"),
         actions=_RBAC_ACTIONS),
    Role("Azure Kubernetes Service RBAC Admin", "3498e952-d568-435e-9b2c-8d77e338d7f7",
         (PREFIX + "*",), _actions(("resourcequotas", "namespaces"), "write delete"),
         actions=(*_RBAC_ACTIONS, _USER_CREDENTIAL)),
    Role("Azure Kubernetes Service RBAC Cluster Admin", "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b",
         (PREFIX + "*",), actions=(*_RBAC_ACTIONS, _USER_CREDENTIAL)),
    # ARM roles (control plane only).
    Role("Reader", "acdd72a7-3385-48ef-bd42-f606fba81ae7", (), actions=("*/read",)),
    Role("Contributor", "b24988ac-6180-42a0-ab88-20f7382dd24c", (), actions=("*",),
         not_actions=("Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
                      "Microsoft.Authorization/elevateAccess/Action",
                      "Microsoft.Blueprint/blueprintAssignments/write",
                      "Microsoft.Blueprint/blueprintAssignments/delete",
                      "Microsoft.Compute/galleries/share/action",
                      "Microsoft.Purview/consents/write", "Microsoft.Purview/consents/delete")),
    Role("Azure Kubernetes Service Contributor Role", "ed7f3fbd-7b88-4dd4-9017-9adb7ce333f8", (),
         actions=(_CLUSTER_READ, "Microsoft.ContainerService/managedClusters/write",
                  "Microsoft.Resources/deployments/*")),
    Role("Azure Kubernetes Service Cluster User Role", "4abbcc35-e782-43d8-92c5-2d3f1bd2253f",
         (), actions=(_USER_CREDENTIAL, _CLUSTER_READ)),
)}


def role(name: str) -> Role:
    found = ROLES.get(name.lower())
    if found is None:
        raise KeyError(f"unknown role {name!r}; known: {', '.join(r.name for r in ROLES.values())}")
    return found


def data_action(attrs: RequestAttributes) -> str:
    """What guard asks Azure about for this request."""
    if attrs.resource == "pods" and attrs.subresource == "exec":
        return f"{PREFIX}pods/exec/action"
    group = f"{attrs.api_group}/" if attrs.api_group else ""
    return f"{PREFIX}{group}{attrs.resource}/{VERBS.get(attrs.verb, attrs.verb)}"


@dataclass(frozen=True)
class Assignment:
    id: str
    principal_id: str
    role: Role
    scope: str

    def covers(self, scope: str) -> bool:
        mine, asked = self.scope.lower().rstrip("/"), scope.lower()
        return asked == mine or asked.startswith(mine + "/")

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "principalId": self.principal_id,
                "roleDefinitionName": self.role.name, "roleDefinitionId": self.role.id,
                "scope": self.scope}


class RoleAssignments:
    """Thread-safe: the control API and the API servers' loops share it."""

    def __init__(self) -> None:
        self._items: dict[str, Assignment] = {}
        self._lock = threading.Lock()

    def grant(self, principal_id: str, role_name: str, scope: str) -> Assignment:
        found = role(role_name)
        with self._lock:
            for a in self._items.values():
                same = (a.principal_id.lower(), a.role.id, a.scope.lower())
                if same == (principal_id.lower(), found.id, scope.lower()):
                    return a
            assignment = Assignment(str(uuid.uuid4()), principal_id, found, scope)
            self._items[assignment.id] = assignment
        return assignment

    def revoke(self, principal_id: str | None = None, role_name: str | None = None,
               scope: str | None = None, assignment_id: str | None = None) -> list[Assignment]:
        """Remove the assignments matching every filter given; returns them."""
        def matches(a: Assignment) -> bool:
            return all((assignment_id is None or a.id == assignment_id,
                        principal_id is None or a.principal_id.lower() == principal_id.lower(),
                        role_name is None or a.role.name.lower() == role_name.lower(),
                        scope is None or a.scope.lower() == scope.lower()))

        with self._lock:
            gone = [a for a in self._items.values() if matches(a)]
            for a in gone:
                del self._items[a.id]
        return gone

    def list(self) -> list[Assignment]:
        with self._lock:
            return list(self._items.values())

    def decide(self, principal_id: str, cluster_id: str, attrs: RequestAttributes
               ) -> Assignment | None:
        """The assignment that allows this request, if any."""
        scope = cluster_id + (f"/namespaces/{attrs.namespace}" if attrs.namespace else "")
        action = data_action(attrs)
        return next((a for a in self.list() if a.principal_id.lower() == principal_id.lower()
                     and a.covers(scope) and a.role.allows(action)), None)


def permissions(assignments: RoleAssignments, principal_id: str, scope: str
                ) -> list[dict[str, list[str]]]:
    """ARM's `permissions` of `principal_id` at `scope`: an entry per covering assignment."""
    return [a.role.permission() for a in assignments.list()
            if a.principal_id.lower() == principal_id.lower() and a.covers(scope)]


def as_json(assignments: list[Assignment]) -> list[dict[str, Any]]:
    return [a.to_json() for a in assignments]

