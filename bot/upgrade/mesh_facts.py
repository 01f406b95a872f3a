"""What the ARM adapter (bot/azure/mesh.py) answers with, and the pure rules behind its answers.

No I/O and no SDK here: the revision targets of start/complete/rollback (as azure-cli computes
them), the judgement of a cluster's state against a target after a crash, and the words that
explain why no newer revision is offered. Revisions are always sorted as versions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from bot.upgrade.errors import GiveUp
from bot.upgrade.versions import Revision, as_revision, sort_revisions

# ARM's terminal provisioning states; anything else (Updating, Creating, ...) is still running.
SUCCEEDED, FAILED, CANCELED = "Succeeded", "Failed", "Canceled"


def sorted_names(revisions: Iterable[str | Revision]) -> tuple[str, ...]:
    """asm-1-9 before asm-1-10 (azure-cli `sort_asm_revisions`), duplicates dropped."""
    return tuple(r.name for r in sorted(set(sort_revisions(revisions))))


@dataclass(frozen=True)
class MeshState:
    mode: str  # "Istio" or "Disabled"
    revisions: tuple[str, ...]
    provisioning_state: str
    kubernetes_version: str
    location: str
    ingress_modes: tuple[str, ...] = ()  # enabled ingress gateways: "External", "Internal"

    @property
    def enabled(self) -> bool:
        return self.mode.lower() == "istio" and bool(self.revisions)

    @property
    def upgrade_in_progress(self) -> bool:
        return len(self.revisions) > 1


@dataclass(frozen=True)
class RevisionProfile:
    """One revision AKS offers in a location (meshRevisionProfiles)."""

    revision: str
    upgrades: tuple[str, ...]
    compatible_with: Mapping[str, tuple[str, ...]]  # list name (KubernetesOfficial, ...) -> minors

    @property
    def kubernetes_versions(self) -> tuple[str, ...]:
        return sorted_minors(v for versions in self.compatible_with.values() for v in versions)


@dataclass(frozen=True)
class UpgradeOptions:
    current: str
    upgrades: tuple[str, ...]
    compatible_with: Mapping[str, tuple[str, ...]]  # revision -> Kubernetes minors
    supported: bool = True  # False: the current revision left support in this location
    in_progress: bool = False
    reason: str = ""  # why `upgrades` is empty, in words for people


@dataclass(frozen=True)
class Operation:
    """A revision change handed to ARM; `token` resumes its poller, `sent_at` is when."""

    target: tuple[str, ...]
    token: str | None = None
    sent_at: datetime | None = None
    note: str = ""

    @property
    def sent(self) -> bool:
        return self.token is not None


class OpState(StrEnum):
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class OperationStatus:
    state: OpState
    reason: str = ""  # for FAILED: the RP's code and message
    status: str = ""  # ARM's word: InProgress, Succeeded, Failed, Canceled


class Progress(StrEnum):
    DONE = "done"
    RUNNING = "running"
    FAILED = "failed"
    NOT_SENT = "not_sent"


@dataclass(frozen=True)
class Observed:
    """A revision change judged from the cluster alone (no continuation token)."""

    progress: Progress
    revisions: tuple[str, ...]
    provisioning_state: str
    target: tuple[str, ...] = field(default=())


def judge(state: MeshState, target: Sequence[str]) -> Observed:
    """The RP shows the requested revisions as soon as it accepts a PUT (Updating), and keeps
    showing them after the operation fails; so other revisions mean our PUT never landed."""
    wanted = sorted_names(target)
    if state.revisions != wanted:
        progress = Progress.NOT_SENT
    elif state.provisioning_state == SUCCEEDED:
        progress = Progress.DONE
    elif state.provisioning_state in (FAILED, CANCELED):
        progress = Progress.FAILED
    else:
        progress = Progress.RUNNING
    return Observed(progress, state.revisions, state.provisioning_state, wanted)


def status_from(observed: Observed) -> OperationStatus:
    """An OperationStatus for a change whose token is unknown."""
    if observed.progress is Progress.DONE:
        return OperationStatus(OpState.SUCCEEDED, status=observed.provisioning_state)
    if observed.progress is Progress.RUNNING:
        return OperationStatus(OpState.IN_PROGRESS, status=observed.provisioning_state)
    if observed.progress is Progress.FAILED:
        reason = f"The cluster's last operation ended {observed.provisioning_state}."
        return OperationStatus(OpState.FAILED, reason, observed.provisioning_state)
    reason = (f"The cluster runs {', '.join(observed.revisions) or 'no revision'}, "
              f"not {', '.join(observed.target)}: the change was not applied.")
    return OperationStatus(OpState.FAILED, reason, observed.provisioning_state)


def start_target(state: MeshState, to_revision: str) -> tuple[str, ...]:
    """`az aks mesh upgrade start`: [old] -> [old, new]; repeated with the same new, unchanged."""
    _require_enabled(state)
    new = as_revision(to_revision)
    if state.upgrade_in_progress and new.name not in state.revisions:
        raise GiveUp(f"An upgrade is already in progress ({' and '.join(state.revisions)}).",
                     "Complete or roll it back before starting another.")
    if new <= as_revision(state.revisions[0]):
        raise GiveUp(f"{new} is not newer than the installed {state.revisions[0]}.",
                     "Downgrades are not allowed; pick a revision from get-upgrades.")
    return sorted_names([*state.revisions, new.name])


def complete_target(state: MeshState) -> tuple[str, ...]:
    """`az aks mesh upgrade complete`: keep only the highest revision."""
    return sorted_names(_canary(state, "complete")[-1:])


def rollback_target(state: MeshState) -> tuple[str, ...]:
    """`az aks mesh upgrade rollback`: keep only the lowest revision."""
    return sorted_names(_canary(state, "roll back")[:1])


def _canary(state: MeshState, verb: str) -> tuple[str, ...]:
    _require_enabled(state)
    if not state.upgrade_in_progress:
        # azure-cli: "Azure Service Mesh upgrade is not in progress."
        raise GiveUp(f"No upgrade to {verb}: only {state.revisions[0]} is installed.",
                     "Azure Service Mesh upgrade is not in progress.")
    return state.revisions


def _require_enabled(state: MeshState) -> None:
    if not state.enabled:
        raise GiveUp("Istio has not been enabled for this cluster.",
                     "Enable the add-on first: https://aka.ms/asm-aks-addon-docs")


def no_upgrade_reason(state: MeshState, profiles: Sequence[RevisionProfile]) -> str:
    """Why meshUpgradeProfiles offers nothing newer (istio-add-on-minor-revision-upgrade.md)."""
    current = state.revisions[0]
    offered = {p.revision: p for p in profiles}
    k8s = minor_of(state.kubernetes_version)
    if offered and current not in offered:
        lowest = offered[sorted_names(offered)[0]]
        return (f"{current} is no longer supported in {state.location} and must first move to "
                f"the lowest supported revision, {lowest.revision}{_cluster_first(lowest, k8s)}.")
    newer = [p for p in profiles if as_revision(p.revision) > as_revision(current)]
    if not newer:
        return f"{current} is the newest revision AKS offers in {state.location}."
    if not any(k8s in p.kubernetes_versions for p in newer):
        first = min(newer, key=lambda p: as_revision(p.revision))
        return ("The cluster's Kubernetes version must be upgraded first: the next revision, "
                f"{first.revision}, needs Kubernetes {_span(first.kubernetes_versions)} and the "
                f"cluster runs {k8s}.")
    return f"AKS offers no upgrade from {current} on Kubernetes {state.kubernetes_version}."


def _cluster_first(profile: RevisionProfile, k8s: str) -> str:
    versions = profile.kubernetes_versions
    if k8s in versions or not versions:
        return ""
    return (f", which needs Kubernetes {_span(versions)} while the cluster runs {k8s}; "
            "upgrade the cluster's Kubernetes version first")


def in_progress_reason(state: MeshState) -> str:
    return (f"An upgrade is already in progress ({' and '.join(state.revisions)} are installed): "
            "complete or roll it back before looking for another.")


def minor_of(kubernetes_version: str) -> str:
    return ".".join(kubernetes_version.split(".")[:2])


def sorted_minors(versions: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(versions), key=_minor_key))


def _minor_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


def _span(versions: Sequence[str]) -> str:
    if len(versions) < 2:
        return versions[0] if versions else "(none listed)"
    return f"{versions[0]} to {versions[-1]}"
