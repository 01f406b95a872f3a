"""The AKS resource provider's state and its rules for the Istio add-on's revisions.

A cluster's `serviceMeshProfile` is the goal state ARM shows; `applied` is what the simulated
cluster runs, changed only when an operation succeeds. Transitions follow aks-arm.md §5:
`[a]` -> `[a, b]` when `b` is an allowed, compatible upgrade of `a`; `[a, b]` -> `[a]` or `[b]`.
Which upgrades are allowed follows istio-upgrade.md (azure-aks-docs @ 61e1d558): n+1 or n+2
from a supported revision, only the lowest supported compatible one from an unsupported one.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshsim.catalogue import Catalogue

if TYPE_CHECKING:
    from meshsim.arm.credentials import EntraProfile

JSON = dict[str, Any]
MAX_REVISIONS = 2
REVISION_NOT_ALLOWED = "Requested change in revisions is not allowed. Reason: {reason}"
UPGRADE_IN_PROGRESS = (
    "Mesh upgrade is in progress. Please complete or roll back the current upgrade before "
    "attempting to retrieve versioning and compatibility information"
)


class RpError(Exception):
    """An ARM error answer: HTTP status plus `{"error": {"code", "message"}}`."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> JSON:
        return {"error": {"code": self.code, "message": self.message}}


def bad_request(message: str) -> RpError:
    return RpError(400, "BadRequest", message)


def not_allowed(reason: str) -> RpError:
    return bad_request(REVISION_NOT_ALLOWED.format(reason=reason))


def default_mesh_profile(revisions: list[str]) -> JSON:
    gateways = [{"mode": "External", "enabled": True}, {"mode": "Internal", "enabled": True}]
    return {
        "mode": "Istio",
        "istio": {"components": {"ingressGateways": gateways}, "revisions": list(revisions)},
    }


def profile_revisions(profile: JSON) -> list[str]:
    if profile.get("mode") != "Istio":
        return []
    return list((profile.get("istio") or {}).get("revisions") or [])


def new_etag() -> str:
    """AKS eTags are GUIDs (use-etags.md: `"eTag": "5e5ffdce-356b-431b-b050-81b45eef2a12"`)."""
    return str(uuid.uuid4())


@dataclass
class AgentPool:
    name: str
    count: int
    mode: str = "System"  # "System" pools need at least one node, "User" pools may have none
    etag: str = field(default_factory=new_etag)


def default_pools() -> list[AgentPool]:
    return [AgentPool("nodepool1", 3)]


@dataclass
class Cluster:
    subscription_id: str
    resource_group: str
    name: str
    location: str
    kubernetes_version: str
    mesh_profile: JSON
    applied: list[str]  # the revisions the simulated cluster runs
    kube_server_url: str
    on_revisions: Callable[[list[str]], None]
    on_patch: Callable[[str, str], None]
    kube_ca_pem: str | None = None
    kube_token: str = "meshsim-cluster-user"
    provisioning_state: str = "Succeeded"
    tags: dict[str, str] = field(default_factory=dict)
    pools: list[AgentPool] = field(default_factory=default_pools)
    etag: str = field(default_factory=new_etag)
    operation_id: str | None = None  # the running operation, if any
    entra: EntraProfile | None = None  # Entra ID integration (meshsim/arm/credentials.py)
    oidc_issuer_url: str | None = None  # the OIDC issuer workload identity trusts
    # Planned-maintenance configurations by name, as ARM serves them (meshsim/arm/maintenance.py).
    maintenance: dict[str, JSON] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return cluster_key(self.subscription_id, self.resource_group, self.name)

    @property
    def revisions(self) -> list[str]:
        """The goal revisions ARM shows (the requested ones, even after a failed operation)."""
        return profile_revisions(self.mesh_profile)


def cluster_key(subscription_id: str, resource_group: str, name: str) -> tuple[str, str, str]:
    """ARM resource names are case-insensitive."""
    return (subscription_id.lower(), resource_group.lower(), name.lower())


def available_upgrades(catalogue: Catalogue, revision: str, kubernetes_version: str) -> list[str]:
    """What `meshUpgradeProfiles` offers a cluster on `revision` (istio-upgrade.md): its n+1
    and n+2 that are supported and compatible with the cluster's Kubernetes version; from an
    unsupported revision only the lowest newer one that is supported and compatible (none when
    the cluster's version fits none of them: the cluster must be upgraded first)."""
    info = catalogue.get(revision)
    if info is None:
        return []
    if not info.supported:
        return _lowest_supported_after(catalogue, revision, kubernetes_version)
    return [
        name
        for name in info.upgrades
        if is_supported(catalogue, name) and catalogue.compatible(name, kubernetes_version)
    ]


def _lowest_supported_after(catalogue: Catalogue, revision: str, k8s: str) -> list[str]:
    names = [i.name for i in catalogue.ordered()]
    newer = names[names.index(revision) + 1 :]
    fits = [n for n in newer if is_supported(catalogue, n) and catalogue.compatible(n, k8s)]
    return fits[:1]


def is_supported(catalogue: Catalogue, name: str) -> bool:
    info = catalogue.get(name)
    return info is not None and info.supported


def requested_profile(current: JSON, body: JSON) -> JSON:
    """The mesh profile a PUT asks for; a PUT without one leaves the profile as it is."""
    properties = body.get("properties") or {}
    profile = properties.get("serviceMeshProfile")
    if profile is None:
        return copy.deepcopy(current)
    if not isinstance(profile, dict):
        raise bad_request("Missing service mesh mode: {}")
    return copy.deepcopy(profile)


def check_profile(catalogue: Catalogue, cluster: Cluster, profile: JSON) -> None:
    """Raise the RP's 400 when `profile` is not an allowed next state of `cluster`."""
    mode = profile.get("mode")
    if mode not in ("Istio", "Disabled"):
        raise bad_request(f"Missing service mesh mode: {mode or '{}'}")
    if mode == "Disabled":
        return
    istio = profile.get("istio")
    if not isinstance(istio, dict):
        raise bad_request("Istio profile is missing even though Service Mesh mode is Istio")
    _check_ingresses(istio)
    check_revisions(
        catalogue, cluster.kubernetes_version, cluster.revisions, profile_revisions(profile)
    )


def _check_ingresses(istio: JSON) -> None:
    seen: set[str] = set()
    for gateway in (istio.get("components") or {}).get("ingressGateways") or []:
        mode = gateway.get("mode")
        if mode not in ("External", "Internal"):
            raise bad_request(f"Invalid istio ingress mode: {mode}")
        if mode in seen:
            raise bad_request(
                f"Too many ingresses for type: {mode}. Only one ingress per type is allowed"
            )
        seen.add(mode)


def check_revisions(
    catalogue: Catalogue, k8s: str, current: list[str], requested: list[str]
) -> None:
    if not requested:
        raise bad_request("ServiceMeshProfile revision field must not be empty")
    if len(requested) > MAX_REVISIONS:
        raise bad_request(f"Request exceeds maximum allowed number of revisions ({MAX_REVISIONS})")
    if len(set(requested)) != len(requested):
        raise not_allowed("Revisions must not repeat.")
    if sorted(requested) == sorted(current):
        return  # the same goal again: allowed, and re-runs the operation (e.g. after a failure)
    added = [r for r in requested if r not in current]
    for name in added:
        _check_new_revision(catalogue, k8s, name)
    if not current:
        if len(requested) != 1:
            raise not_allowed("The service mesh must be enabled with a single revision.")
        return
    if len(current) == MAX_REVISIONS:
        if added or len(requested) != 1:
            raise bad_request(
                f"Request exceeds maximum allowed number of revisions ({MAX_REVISIONS})"
            )
        return  # complete or rollback
    _check_start(catalogue, k8s, current[0], requested)


def _check_new_revision(catalogue: Catalogue, k8s: str, name: str) -> None:
    if not is_supported(catalogue, name):
        raise not_allowed(f"Revision {name} is not supported by the service mesh add-on.")
    if not catalogue.compatible(name, k8s):
        raise bad_request(
            f"Service mesh revision {name} is not compatible with cluster version {k8s}. To find "
            "information about mesh-cluster compatibility, use 'az aks mesh get-upgrades'"
        )


def _check_start(catalogue: Catalogue, k8s: str, stable: str, requested: list[str]) -> None:
    if stable not in requested:
        raise not_allowed(
            f"Revision {stable} must stay installed until the upgrade is completed or rolled back."
        )
    if len(requested) == 1:
        return
    canary = next(r for r in requested if r != stable)
    allowed = available_upgrades(catalogue, stable, k8s)
    if canary not in allowed:
        raise not_allowed(
            f"Revision {canary} is not a valid upgrade from {stable}. "
            f"Allowed upgrades: {', '.join(allowed) or 'none'}."
        )
