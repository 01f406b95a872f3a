"""The ARM adapter: the Istio add-on of one AKS cluster, in the words the workflow uses.

It drives ARM the way `az aks mesh upgrade start|complete|rollback` does (GET the cluster,
change `serviceMeshProfile.istio.revisions`, PUT the whole cluster) but never waits for the
long-running operation: a PUT returns an `Operation` holding the poller's continuation token,
and `operation_status()` later asks ARM once, without sleeping. SDK errors leave as RetryLater
or GiveUp (bot/azure/errors.py).

Crash-safety recipe (the workflow's side), so that a PUT is never accepted twice:
  1. compute the target (`start_target`/`complete_target`/`rollback_target` on `mesh_state()`)
     and record "PUT intent: target" durably before sending;
  2. `op = begin_set_revisions(target)`; record `op.token` (None: nothing needed sending);
  3. later, `operation_status(token)` until it is not IN_PROGRESS;
  4. after a crash with an intent but no token, call `observe(target)`: DONE/RUNNING mean the
     PUT landed (poll `observe` or `operation_status(Operation(target))` on), FAILED means it
     landed and failed, NOT_SENT means it never reached ARM and step 2 may run again.
  `begin_set_revisions` is itself idempotent: it sends nothing when ARM already shows the target
  and the cluster is Updating or Succeeded, so step 2 repeated after a crash is harmless too.

Concurrency with other tools (azure-cli, Terraform, the portal): every PUT carries `If-Match`
with the eTag of the GET just before it, so it cannot overwrite a change made in between
(tags, a node pool's count). AKS answers such a PUT 412 before applying anything
(use-etags.md), so a 412 is not an accepted PUT: the adapter reads the cluster again, changes
only the revisions on that fresh body (judging the target again first) and resends, at most
`PUT_ATTEMPTS` times, then leaves with RetryLater. Every rule above holds for each attempt.

Who retries what is decided in bot/azure/client.py: the SDK absorbs short blips on reads, the
PUT is sent with `retry_total=0`, and everything else leaves as RetryLater for the workflow.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from typing import cast

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceModifiedError
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.containerservice.models import ManagedCluster, MeshRevision

from bot.azure.errors import (
    LIST_USER_CREDENTIALS,
    READ_CLUSTER,
    READ_OPERATION,
    READ_REVISIONS,
    READ_UPGRADES,
    WRITE_CLUSTER,
    arm_errors,
    changed_meanwhile,
    rp_message,
)
from bot.azure.maintenance import read_maintenance
from bot.azure.polling import StepPolling
from bot.schedule.maintenance import MaintenanceConfig
from bot.upgrade.errors import Cause, GiveUp
from bot.upgrade.mesh_facts import (
    MeshState,
    Observed,
    Operation,
    OperationStatus,
    OpState,
    Progress,
    RevisionProfile,
    UpgradeOptions,
    in_progress_reason,
    judge,
    no_upgrade_reason,
    sorted_minors,
    sorted_names,
    status_from,
)
from bot.upgrade.versions import as_revision

# The RP's answer to get-upgrades during a canary (istio-add-on-general-troubleshooting.md).
_UPGRADE_IN_PROGRESS = "mesh upgrade is in progress"
# GET + If-Match PUT rounds before a cluster that keeps changing is left for a later step.
PUT_ATTEMPTS = 3


class AksMesh:
    """The Istio add-on of one cluster; every call is one short round of ARM requests."""

    def __init__(self, client: ContainerServiceClient, resource_group: str, name: str,
                 now: Callable[[], datetime] | None = None,
                 on_error: Callable[[Cause], None] | None = None) -> None:
        self._client = client
        self._on_error = on_error  # counts failed ARM calls (the bot's /metrics)
        self._clusters = client.managed_clusters
        self.resource_group = resource_group
        self.name = name
        self._now = now or (lambda: datetime.now(UTC))

    @property
    def label(self) -> str:
        return f"{self.resource_group}/{self.name}"

    def mesh_state(self) -> MeshState:
        return _state_of(self._get())

    def revision_profiles(self, location: str | None = None) -> list[RevisionProfile]:
        """What AKS offers in the cluster's location (az aks mesh get-revisions)."""
        where = location or self.mesh_state().location
        with arm_errors(self.label, "list the mesh revisions", READ_REVISIONS, self._on_error):
            pages = list(self._clusters.list_mesh_revision_profiles(where))
        revisions = [r for page in pages if page.properties
                     for r in page.properties.mesh_revisions or []]
        profiles = [_profile_of(r) for r in revisions if r.revision]
        return sorted(profiles, key=lambda p: as_revision(p.revision))

    def available_upgrades(self) -> UpgradeOptions:
        """az aks mesh get-upgrades, with the reason in words when nothing newer is offered."""
        state = self._enabled_state()
        current = state.revisions[0]
        offered = None if state.upgrade_in_progress else self._upgrade_profile()
        if offered is None:  # a canary runs: the RP answers get-upgrades with an error then
            return UpgradeOptions(current, (), {}, in_progress=True,
                                  reason=in_progress_reason(state))
        profiles = self.revision_profiles(state.location)
        upgrades = tuple(r for r in sorted_names(offered.upgrades or [])
                         if as_revision(r) > as_revision(current))
        known = {p.revision: p.kubernetes_versions for p in profiles}
        compatible = {current: _profile_of(offered).kubernetes_versions}
        compatible.update({r: known.get(r, ()) for r in upgrades})
        supported = current in known or not known
        reason = "" if upgrades else no_upgrade_reason(state, profiles)
        return UpgradeOptions(current, upgrades, compatible, supported, reason=reason)

    def begin_set_revisions(self, target: tuple[str, ...]) -> Operation:
        """PUT the cluster with `target` revisions and return at once (no LRO wait).

        The PUT is conditional on the eTag just read; when another tool changed the cluster
        in between (412), it is read again and the revisions alone are set on the fresh body."""
        wanted = sorted_names(target)
        for _ in range(PUT_ATTEMPTS):
            op = self._send(self._get(), wanted)
            if op is not None:
                return op
        if self._on_error is not None:
            self._on_error(Cause.CONFLICT)
        raise changed_meanwhile(self.label, "change the mesh revisions", PUT_ATTEMPTS)

    def operation_status(self, op: Operation | str) -> OperationStatus:
        """One status GET on the operation's Azure-AsyncOperation URL; never sleeps.

        Given an Operation without a token (nothing was sent), or one ARM no longer knows,
        the answer is judged from the cluster instead (`observe`)."""
        if isinstance(op, str):
            status = self._poll_once(op)
            if status is None:
                raise GiveUp(f"ARM no longer knows this operation on {self.label}.",
                             "Judge the change from the cluster with observe(target).")
            return status
        found = self._poll_once(op.token) if op.token is not None else None
        return found or status_from(self.observe(op.target))

    def observe(self, target: tuple[str, ...]) -> Observed:
        """Judge a revision change from the cluster alone, for when its token was lost."""
        return judge(self.mesh_state(), target)

    def user_kubeconfig(self) -> bytes:
        """The clusterUser kubeconfig (az aks get-credentials), already base64-decoded."""
        with arm_errors(self.label, "get the cluster's user credentials", LIST_USER_CREDENTIALS,
                        self._on_error):
            result = self._clusters.list_cluster_user_credentials(self.resource_group, self.name)
        for kubeconfig in result.kubeconfigs or []:
            if kubeconfig.value:
                return kubeconfig.value
        raise GiveUp(f"ARM returned no kubeconfig for {self.label}.",
                     "Configure Kubernetes access to the cluster explicitly.")

    def maintenance(self) -> tuple[MaintenanceConfig, ...]:
        """The cluster's AKS planned-maintenance configurations (az aks maintenanceconfiguration
        list); () when it has none."""
        return read_maintenance(self._client, self.resource_group, self.name, self._on_error)

    def _poll_once(self, token: str) -> OperationStatus | None:
        """Resume the poller from `token` for one status GET; None if ARM answers 404."""
        polling = StepPolling(steps=1)
        with arm_errors(self.label, "read the operation's status", READ_OPERATION, self._on_error):
            poller = self._clusters.begin_create_or_update(
                self.resource_group, self.name, cast(ManagedCluster, None),  # ignored on resume
                continuation_token=token, polling=polling)
            try:
                poller.wait()
            except HttpResponseError as exc:
                if exc.status_code == 404:
                    return None
                raise
        return _status_of(polling)

    def _get(self) -> ManagedCluster:
        with arm_errors(self.label, "read the cluster", READ_CLUSTER, self._on_error):
            return self._clusters.get(self.resource_group, self.name)

    def _enabled_state(self) -> MeshState:
        state = self.mesh_state()
        if not state.enabled:
            raise GiveUp(f"Istio is not enabled on {self.label}.",
                         "Enable the add-on first: https://aka.ms/asm-aks-addon-docs")
        return state

    def _upgrade_profile(self) -> MeshRevision | None:
        """The first meshUpgradeProfile as azure-cli reads it; None while a canary runs."""
        with arm_errors(self.label, "list the mesh upgrades", READ_UPGRADES, self._on_error):
            try:
                pager = self._clusters.list_mesh_upgrade_profiles(self.resource_group, self.name)
                found = list(pager)
            except HttpResponseError as exc:
                if _UPGRADE_IN_PROGRESS in rp_message(exc).lower():
                    return None
                raise
        properties = found[0].properties if found else None
        return properties if properties is not None else MeshRevision(upgrades=[])

    def _send(self, mc: ManagedCluster, target: tuple[str, ...]) -> Operation | None:
        """One PUT of `mc` with `target` unless ARM already shows it; None on a 412."""
        state = _state_of(mc)
        if not state.enabled or not target:  # azure-cli's upgrade commands check this too
            raise GiveUp(f"Istio is not enabled on {self.label}, or no revision was given.",
                         "Enable the add-on first: https://aka.ms/asm-aks-addon-docs")
        observed = judge(state, target)
        if observed.progress in (Progress.DONE, Progress.RUNNING):
            note = f"{self.label} already has {', '.join(target)} ({observed.provisioning_state})."
            return Operation(target, note=note + " Nothing was sent.")
        _set_revisions(mc, target)
        sent_at = self._now()
        token = self._put_if_unchanged(mc)
        if token is None:
            return None
        return Operation(target, token, sent_at, f"Sent {', '.join(target)} to {self.label}.")

    def _put_if_unchanged(self, mc: ManagedCluster) -> str | None:
        """PUT `mc` with If-Match its eTag; its continuation token, or None when ARM answers
        412 (the cluster changed since `mc` was read, and nothing was applied)."""
        with arm_errors(self.label, "change the mesh revisions", WRITE_CLUSTER, self._on_error):
            try:
                poller = self._clusters.begin_create_or_update(
                    self.resource_group, self.name, mc, etag=mc.e_tag,
                    match_condition=MatchConditions.IfNotModified,
                    polling=StepPolling(steps=0), retry_total=0)
            except ResourceModifiedError:
                return None
        return poller.continuation_token()


def _set_revisions(mc: ManagedCluster, target: tuple[str, ...]) -> None:
    """Change only the revisions; the hybrid model PUTs every other field back as read."""
    profile = mc.properties.service_mesh_profile if mc.properties else None
    if profile is None or profile.istio is None:  # _send checked that the mesh is enabled
        raise GiveUp("ARM returned a cluster without an Istio profile.", "Try again later.")
    profile.istio.revisions = list(target)


def _state_of(mc: ManagedCluster) -> MeshState:
    properties = mc.properties
    profile = properties.service_mesh_profile if properties else None
    istio = profile.istio if profile else None
    components = istio.components if istio else None
    gateways = (components.ingress_gateways if components else None) or []
    return MeshState(
        mode=_text(profile.mode) if profile and profile.mode else "Disabled",
        revisions=sorted_names((istio.revisions if istio else None) or []),
        provisioning_state=str(properties.provisioning_state or "") if properties else "",
        kubernetes_version=_kubernetes_version(mc),
        location=mc.location or "",
        ingress_modes=tuple(sorted(_text(g.mode) for g in gateways if g.enabled)),
    )


def _text(value: object) -> str:
    """Hybrid models hand back raw JSON strings, or str enums when set from Python."""
    return str(value.value) if isinstance(value, Enum) else str(value)


def _kubernetes_version(mc: ManagedCluster) -> str:
    properties = mc.properties
    if properties is None:
        return ""
    return properties.current_kubernetes_version or properties.kubernetes_version or ""


def _profile_of(revision: MeshRevision) -> RevisionProfile:
    compatible = {str(c.name or "kubernetes"): sorted_minors(c.versions or [])
                  for c in revision.compatible_with or []}
    return RevisionProfile(str(revision.revision or ""),
                           sorted_names(revision.upgrades or []), compatible)


def _status_of(polling: StepPolling) -> OperationStatus:
    status = polling.status()
    if status.lower() == "succeeded":
        return OperationStatus(OpState.SUCCEEDED, status=status)
    if status.lower() in ("failed", "canceled"):
        return OperationStatus(OpState.FAILED, polling.failure_reason(), status)
    return OperationStatus(OpState.IN_PROGRESS, status=status)
