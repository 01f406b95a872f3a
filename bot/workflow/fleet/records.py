"""What a fleet run's workflow hands to the Slack layer: the fleet's audit events, the outcome
of a person's action, one look at the fleet, and a completed cluster's evidence for promotion
(its time on the new revision, its checks and its traffic gates' verdicts)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.fleet.runs import (
    FleetRun,
    Member,
)
from bot.store.repository import Store
from bot.upgrade.kinds import AuditKind
from bot.upgrade.phases import Phase
from bot.upgrade.records import Run
from bot.workflow.checks import CHECK_TALLY


class FleetEvent(StrEnum):
    """One entry of a fleet's audit (and one reply in its card's thread)."""

    STARTED = "started"
    CLUSTER_STARTED = "cluster_started"
    CLUSTER_WAITS = "cluster_waits"  # its cluster already has a run of its own
    CLUSTER_DONE = "cluster_done"
    CLUSTER_STOPPED = "cluster_stopped"
    SOAKING = "soaking"
    PROMOTION_ASKED = "promotion_asked"
    REMINDED = "reminded"  # a promotion request still waits, shortly before it expires
    EXPIRED = "expired"  # nobody approved it in time; a click asks again
    APPROVED = "approved"
    REFUSED = "refused"
    PROMOTED = "promoted"
    STOPPED = "stopped"
    PAUSED = "paused"
    RESUMED = "resumed"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class FleetOutcome(StrEnum):
    APPLIED = "applied"  # the action took effect
    COUNTED = "counted"  # an approval counted; more are needed
    REFUSED = "refused"  # the clicker may not, or the request expired (asked again)
    STALE = "stale"  # the card was out of date
    OUT_OF_TURN = "out_of_turn"  # not possible in the fleet's phase


@dataclass(frozen=True)
class FleetResult:
    outcome: FleetOutcome
    run: FleetRun
    message: str


@dataclass(frozen=True)
class FleetLook:
    """The fleet after one look: its run, members, the runs of its clusters under way (by
    run id), and when it next has something to do by itself (None: people do)."""

    run: FleetRun
    members: tuple[Member, ...]
    runs: Mapping[int, Run]
    due: datetime | None

    @property
    def fingerprint(self) -> tuple[object, ...]:
        """Changes whenever what the fleet card shows may have changed."""
        return (self.run.version, self.members,
                tuple(sorted((i, r.version) for i, r in self.runs.items())))

@dataclass(frozen=True)
class Evidence:
    """What a completed cluster shows for promotion: its time on the new revision (since every
    workload moved), its scheduled checks, and its traffic gates' verdicts."""

    on_target_since: datetime | None
    checks_passed: int
    checks_failed: int
    waves: Mapping[str, int]  # traffic verdict outcome -> how many waves had it
    soak: str | None  # the soak's traffic verdict, if the cluster has traffic gates


def evidence(store: Store, run: Run) -> Evidence:
    since = next((c.at for c in store.history(run.id) if c.to_phase is Phase.VERIFYING), None)
    tally = store.step(run.id, CHECK_TALLY) or {}
    waves: dict[str, int] = {}
    soak = None
    for entry in store.audit_log(run_id=run.id):
        if entry.kind is not AuditKind.TRAFFIC_VERDICT:
            continue
        outcome = str((entry.detail.get("verdict") or {}).get("outcome", ""))
        if entry.detail.get("gate") == "soak":
            soak = outcome
        else:
            waves[outcome] = waves.get(outcome, 0) + 1
    return Evidence(since, int(tally.get("passed", 0)), int(tally.get("failed", 0)), waves, soak)

