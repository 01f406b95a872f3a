"""HTTP statuses map onto retry-later or give-up, and refusals read well in Slack."""

from __future__ import annotations

import pytest

from bot.upgrade.errors import (
    GateRefused,
    GiveUp,
    RetryLater,
    RunConflict,
    StaleVersion,
    error_for_status,
)


@pytest.mark.parametrize(("status", "delay"), [(409, 30.0), (429, 30.0), (500, 15.0), (503, 15.0)])
def test_transient_statuses_retry_later_with_a_delay(status: int, delay: float) -> None:
    error = error_for_status(status, "busy")
    assert isinstance(error, RetryLater)
    assert error.delay_seconds == delay


def test_retry_after_from_the_server_wins() -> None:
    error = error_for_status(429, "throttled", retry_after=7)
    assert isinstance(error, RetryLater)
    assert error.delay_seconds == 7


@pytest.mark.parametrize(("status", "hint"), [(400, ""), (403, "permission"), (404, "names")])
def test_permanent_statuses_give_up_with_a_hint(status: int, hint: str) -> None:
    error = error_for_status(status, "no")
    assert type(error) is GiveUp
    assert hint in error.hint


def test_run_conflict_names_holder_and_run() -> None:
    error = RunConflict("prod", 7, "U0ALICE", "rolling")
    assert error.message == "Cluster prod already has run 7 (rolling), requested by <@U0ALICE>."
    assert error.hint == "Finish, roll back or cancel run 7 first."


def test_stale_version_says_nothing_was_done() -> None:
    error = StaleVersion(3, 4, 5)
    assert (error.expected, error.actual) == (4, 5)
    assert "Nothing was done" in str(error)


def test_gate_refusal_names_what_is_left() -> None:
    error = GateRefused("complete", ["default/web", "shop/cart"])
    assert error.message == "Cannot complete yet: 2 left: default/web, shop/cart."
