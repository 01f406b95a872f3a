"""Who may approve an action, and when enough people have: a pure policy check.

The caller (Slack) resolves the clicker's group membership and passes it in; `None` means it
could not be resolved, and then only a listed user may approve (fail closed). The requester
never counts, each person counts once, and approvals and requests expire.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class ApprovalPolicy:
    groups: tuple[str, ...]
    users: tuple[str, ...]
    required: int
    expires_after: timedelta
    remind_before: timedelta


class PriorApproval(Protocol):
    """What evaluate needs from a stored approval (store.Approval satisfies it)."""

    @property
    def user_id(self) -> str: ...

    @property
    def at(self) -> datetime: ...


class Verdict(StrEnum):
    ACCEPTED = "accepted"  # counted; more approvers needed
    SATISFIED = "satisfied"  # enough approvers now: go ahead
    ALREADY_APPROVED = "already_approved"
    REQUESTER_CANNOT_APPROVE = "requester_cannot_approve"
    NOT_AN_APPROVER = "not_an_approver"
    MEMBERSHIP_UNKNOWN = "membership_unknown"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    message: str
    approvers: tuple[str, ...]  # who counts now, in order, including the clicker if counted
    remaining: int  # approvals still needed
    record: bool  # store the clicker's approval


def expires_at(policy: ApprovalPolicy, requested_at: datetime) -> datetime:
    return requested_at + policy.expires_after


def remind_at(policy: ApprovalPolicy, requested_at: datetime) -> datetime:
    return expires_at(policy, requested_at) - policy.remind_before


def may_ask_again(policy: ApprovalPolicy, requester: str, clicker: str,
                  clicker_groups: frozenset[str] | None) -> bool:
    """Who may renew an expired request with a click: the requester, or an approver
    (membership as resolved at click time; unknown membership fails closed)."""
    groups = clicker_groups or frozenset()
    return clicker == requester or clicker in policy.users or bool(groups & set(policy.groups))


def evaluate(
    policy: ApprovalPolicy,
    requester: str,
    approvals_so_far: Sequence[PriorApproval],
    clicker: str,
    clicker_groups: frozenset[str] | None,
    now: datetime,
    *,
    requested_at: datetime,
) -> Decision:
    """Decide what one click on an Approve button means."""
    counted = _still_counting(policy, requester, approvals_so_far, now)
    refusal = _refusal(policy, requester, counted, clicker, clicker_groups, now, requested_at)
    if refusal is not None:
        return refusal
    if len(counted) >= policy.required:
        return _decision(Verdict.SATISFIED, policy, counted, "Already approved by "
                         f"{_names(counted)}; nothing more is needed.")
    counted = (*counted, _Counted(clicker, now))
    verdict = Verdict.SATISFIED if len(counted) >= policy.required else Verdict.ACCEPTED
    return _decision(verdict, policy, counted, _progress(policy, counted), record=True)


@dataclass(frozen=True)
class _Counted:
    user_id: str
    at: datetime


def _still_counting(
    policy: ApprovalPolicy, requester: str, prior: Iterable[PriorApproval], now: datetime
) -> tuple[_Counted, ...]:
    """Distinct, unexpired approvals by anyone but the requester, earliest first."""
    seen: dict[str, _Counted] = {}
    for a in sorted(prior, key=lambda a: a.at):
        if a.user_id != requester and a.user_id not in seen and now < a.at + policy.expires_after:
            seen[a.user_id] = _Counted(a.user_id, a.at)
    return tuple(seen.values())


def _refusal(
    policy: ApprovalPolicy,
    requester: str,
    counted: tuple[_Counted, ...],
    clicker: str,
    clicker_groups: frozenset[str] | None,
    now: datetime,
    requested_at: datetime,
) -> Decision | None:
    if now >= expires_at(policy, requested_at):
        return _decision(Verdict.EXPIRED, policy, counted, "This request expired at "
                       f"{_when(expires_at(policy, requested_at))}; ask for it again.")
    if clicker == requester:
        return _decision(Verdict.REQUESTER_CANNOT_APPROVE, policy, counted,
                       "You asked for this, so your approval does not count; "
                       "someone else must approve.")
    mine = next((a for a in counted if a.user_id == clicker), None)
    if mine is not None:
        return _decision(Verdict.ALREADY_APPROVED, policy, counted,
                       f"Already approved by <@{clicker}> at {_when(mine.at)}.")
    return _membership_refusal(policy, counted, clicker, clicker_groups)


def _membership_refusal(
    policy: ApprovalPolicy,
    counted: tuple[_Counted, ...],
    clicker: str,
    clicker_groups: frozenset[str] | None,
) -> Decision | None:
    if clicker in policy.users or (clicker_groups or frozenset()) & set(policy.groups):
        return None
    if clicker_groups is None and policy.groups:
        return _decision(Verdict.MEMBERSHIP_UNKNOWN, policy, counted,
                       "Could not check your approver group membership right now, so the "
                       "approval was not counted; try again in a minute.")
    return _decision(Verdict.NOT_AN_APPROVER, policy, counted,
                   f"You are not an approver here. Approvers: {_approvers(policy)}.")


def _decision(verdict: Verdict, policy: ApprovalPolicy, counted: tuple[_Counted, ...],
              message: str, record: bool = False) -> Decision:
    remaining = max(policy.required - len(counted), 0)
    return Decision(verdict, message, tuple(a.user_id for a in counted), remaining, record)


def _progress(policy: ApprovalPolicy, counted: tuple[_Counted, ...]) -> str:
    left = policy.required - len(counted)
    done = f"Approved by {_names(counted)} ({len(counted)} of {policy.required})"
    return f"{done}." if left <= 0 else f"{done}; {left} more needed."


def _names(counted: Iterable[_Counted]) -> str:
    return ", ".join(f"<@{a.user_id}>" for a in counted)


def _approvers(policy: ApprovalPolicy) -> str:
    parts = [f"<!subteam^{g}>" for g in policy.groups] + [f"<@{u}>" for u in policy.users]
    return ", ".join(parts) or "nobody is configured"


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
