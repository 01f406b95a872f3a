"""Approval policy: N distinct approvers, never the requester, expiry, failing closed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.upgrade.approvals import ApprovalPolicy, Decision, Verdict, evaluate, expires_at, remind_at

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
GROUP = "S0MESHAPPR"
POLICY = ApprovalPolicy((GROUP,), ("U0LEAD",), 2, timedelta(hours=4), timedelta(hours=1))
IN_GROUP = frozenset({GROUP})


@dataclass(frozen=True)
class Given:
    user_id: str
    at: datetime


def click(clicker: str, prior: list[Given], groups: frozenset[str] | None = IN_GROUP,
          at: datetime = T0 + timedelta(minutes=30), policy: ApprovalPolicy = POLICY) -> Decision:
    return evaluate(policy, "U0ALICE", prior, clicker, groups, at, requested_at=T0)


def test_first_of_two_approvals_is_accepted_and_one_more_is_needed() -> None:
    decision = click("U0BOB", [])
    assert (decision.verdict, decision.remaining, decision.record) == (Verdict.ACCEPTED, 1, True)
    assert decision.message == "Approved by <@U0BOB> (1 of 2); 1 more needed."


def test_second_distinct_approver_satisfies_the_policy() -> None:
    decision = click("U0CAROL", [Given("U0BOB", T0)])
    assert decision.verdict is Verdict.SATISFIED
    assert decision.approvers == ("U0BOB", "U0CAROL")
    assert decision.remaining == 0 and decision.record


def test_requester_never_counts_even_when_an_approver() -> None:
    decision = click("U0ALICE", [])
    assert decision.verdict is Verdict.REQUESTER_CANNOT_APPROVE
    assert not decision.record and decision.remaining == 2


def test_a_stored_approval_by_the_requester_is_not_counted() -> None:
    decision = click("U0BOB", [Given("U0ALICE", T0)])
    assert decision.verdict is Verdict.ACCEPTED and decision.approvers == ("U0BOB",)


def test_same_person_twice_is_refused_naming_who_and_when() -> None:
    decision = click("U0BOB", [Given("U0BOB", T0 + timedelta(minutes=5))])
    assert decision.verdict is Verdict.ALREADY_APPROVED and not decision.record
    assert decision.message == "Already approved by <@U0BOB> at 2025-03-01 09:05 UTC."


def test_duplicate_stored_approvals_count_once() -> None:
    decision = click("U0LEAD", [Given("U0BOB", T0), Given("U0BOB", T0)])
    assert decision.approvers == ("U0BOB", "U0LEAD") and decision.verdict is Verdict.SATISFIED


def test_outsider_is_not_an_approver_and_is_told_who_is() -> None:
    decision = click("U0MALLORY", [], groups=frozenset({"S0OTHER"}))
    assert decision.verdict is Verdict.NOT_AN_APPROVER and not decision.record
    assert "<!subteam^S0MESHAPPR>" in decision.message and "<@U0LEAD>" in decision.message


def test_unknown_membership_fails_closed() -> None:
    decision = click("U0BOB", [], groups=None)
    assert decision.verdict is Verdict.MEMBERSHIP_UNKNOWN and not decision.record


def test_listed_user_needs_no_membership_lookup() -> None:
    assert click("U0LEAD", [], groups=None).verdict is Verdict.ACCEPTED


def test_policy_without_approvers_lets_nobody_approve() -> None:
    empty = ApprovalPolicy((), (), 1, timedelta(hours=1), timedelta(minutes=10))
    assert click("U0BOB", [], policy=empty).verdict is Verdict.NOT_AN_APPROVER


def test_request_expires_after_the_policy_time() -> None:
    decision = click("U0BOB", [], at=T0 + timedelta(hours=4))
    assert decision.verdict is Verdict.EXPIRED and not decision.record
    assert "expired at 2025-03-01 13:00 UTC" in decision.message


def test_an_expired_approval_no_longer_counts() -> None:
    old = Given("U0BOB", T0 - timedelta(hours=5))
    decision = click("U0CAROL", [old])
    assert decision.verdict is Verdict.ACCEPTED and decision.approvers == ("U0CAROL",)


def test_click_after_quorum_records_nothing_and_says_who_approved() -> None:
    decision = click("U0LEAD", [Given("U0BOB", T0), Given("U0CAROL", T0)])
    assert decision.verdict is Verdict.SATISFIED and not decision.record
    assert decision.message.startswith("Already approved by <@U0BOB>, <@U0CAROL>")


def test_reminder_falls_before_expiry() -> None:
    assert expires_at(POLICY, T0) == T0 + timedelta(hours=4)
    assert remind_at(POLICY, T0) == T0 + timedelta(hours=3)
