"""Deciding one approval: the policy (bot/upgrade/approvals.py) evaluated against the run as
stored now, with the clicker's group membership as the caller resolved it at click time.

No caller passes a verdict in: `decide` reads the run, its approvals and when the action was
last asked for, evaluates the policy, records the approval and, when the policy is satisfied,
the transition it allows. What happened comes back as an `Outcome` for the caller to phrase.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.store.repository import Store
from bot.upgrade.approvals import ApprovalPolicy, Decision, evaluate
from bot.upgrade.kinds import AuditKind
from bot.upgrade.phases import Action
from bot.upgrade.records import Run


class Outcome(StrEnum):
    APPLIED = "applied"  # enough approvals: the transition is made
    COUNTED = "counted"  # the approval is recorded; more are needed
    REFUSED = "refused"  # the policy refused the clicker (the decision says why)
    ASKED_AGAIN = "asked_again"  # the request had expired: the click renewed it
    STALE = "stale"  # the run changed since the card was shown
    OUT_OF_TURN = "out_of_turn"  # the action is not possible in the run's phase


@dataclass(frozen=True)
class ApprovalResult:
    outcome: Outcome
    run: Run  # the run as it is after the click
    decision: Decision | None = None  # None: no policy was evaluated (own cancel, stale)


def requested_at(store: Store, run: Run, action: Action) -> datetime:
    """When `action` was last asked for: entering the phase, or a later request."""
    entered = store.history(run.id)[-1].at
    asked = [e.at for e in store.audit_log(run_id=run.id)
             if e.kind is AuditKind.REQUESTED and e.detail.get("action") == action.value]
    return max([entered, *asked])


def judge(store: Store, policy: ApprovalPolicy, run: Run, action: Action, user: str,
          groups: frozenset[str] | None, now: datetime) -> Decision | None:
    """The policy's verdict on `user`'s click on `run` as stored now; None for the requester's
    own cancel, which needs nobody's approval. A cancel is never asked for ahead (the click
    is the request), so it cannot expire."""
    if action is Action.CANCEL and user == run.requested_by:
        return None
    asked = now if action is Action.CANCEL else requested_at(store, run, action)
    return evaluate(policy, run.requested_by, store.approvals(run.id, action.value, run.version),
                    user, groups, now, requested_at=asked)
