"""The phase table: every legal edge, and everything else refused with what is allowed."""

from __future__ import annotations

import itertools

import pytest

from bot.upgrade.phases import (
    TERMINAL,
    Action,
    Event,
    IllegalTransition,
    Phase,
    RunKind,
    allowed_actions,
    edges,
    first_phase,
    is_terminal,
    next_phase,
    successors,
)

P, E = Phase, Event

# The agreed table, written out independently of bot/upgrade/phases.py.
EXPECTED = {
    (P.PLANNED, E.START): P.STARTING,
    (P.PLANNED, E.CANCEL): P.CANCELLED,
    (P.PLANNED, E.FAIL): P.FAILED,
    (P.STARTING, E.CONTROL_PLANE_READY): P.CANARY_READY,
    (P.STARTING, E.FAIL): P.FAILED,
    (P.CANARY_READY, E.ROLL): P.ROLLING,
    (P.CANARY_READY, E.ROLLBACK): P.ROLLING_BACK,
    (P.CANARY_READY, E.FAIL): P.FAILED,
    (P.ROLLING, E.ROLLED_OUT): P.VERIFYING,
    (P.ROLLING, E.ROLL): P.ROLLING,
    (P.ROLLING, E.ROLLBACK): P.ROLLING_BACK,
    (P.ROLLING, E.FAIL): P.FAILED,
    (P.VERIFYING, E.SOAK_OVER): P.AWAITING_DECISION,
    (P.VERIFYING, E.ROLLBACK): P.ROLLING_BACK,
    (P.VERIFYING, E.FAIL): P.FAILED,
    (P.AWAITING_DECISION, E.COMPLETE): P.COMPLETING,
    (P.AWAITING_DECISION, E.ROLLBACK): P.ROLLING_BACK,
    (P.AWAITING_DECISION, E.RESTART): P.ROLLING,
    (P.AWAITING_DECISION, E.FAIL): P.FAILED,
    (P.COMPLETING, E.FINISHED): P.COMPLETED,
    (P.COMPLETING, E.FAIL): P.FAILED,
    (P.ROLLING_BACK, E.FINISHED): P.ROLLED_BACK,
    (P.ROLLING_BACK, E.FAIL): P.FAILED,
    (P.FAILED, E.ROLLBACK): P.ROLLING_BACK,
    (P.FAILED, E.CANCEL): P.CANCELLED,
    (P.PATCH_PLANNED, E.RESTART): P.PATCH_RESTARTING,
    (P.PATCH_PLANNED, E.CANCEL): P.CANCELLED,
    (P.PATCH_PLANNED, E.FAIL): P.FAILED,
    (P.PATCH_RESTARTING, E.ROLLED_OUT): P.PATCH_VERIFYING,
    (P.PATCH_RESTARTING, E.FAIL): P.FAILED,
    (P.PATCH_VERIFYING, E.FINISHED): P.PATCH_DONE,
    (P.PATCH_VERIFYING, E.RESTART): P.PATCH_RESTARTING,
    (P.PATCH_VERIFYING, E.FAIL): P.FAILED,
    # From a pause only: retry the step, roll back while it is safe, or give the cluster back.
    (P.STARTING, E.RETRY): P.STARTING,
    (P.STARTING, E.ROLLBACK): P.ROLLING_BACK,
    (P.STARTING, E.CANCEL): P.CANCELLED,
    (P.VERIFYING, E.RETRY): P.VERIFYING,
    (P.COMPLETING, E.RETRY): P.COMPLETING,
    (P.COMPLETING, E.CANCEL): P.CANCELLED,
    (P.ROLLING_BACK, E.RETRY): P.ROLLING_BACK,
    (P.ROLLING_BACK, E.CANCEL): P.CANCELLED,
    (P.PATCH_RESTARTING, E.RETRY): P.PATCH_RESTARTING,
    (P.PATCH_RESTARTING, E.CANCEL): P.CANCELLED,
    (P.PATCH_VERIFYING, E.RETRY): P.PATCH_VERIFYING,
    (P.PATCH_VERIFYING, E.CANCEL): P.CANCELLED,
}
WHEN_PAUSED = {pe for pe in EXPECTED if pe[1] is E.RETRY} | {
    (P.STARTING, E.ROLLBACK), (P.STARTING, E.CANCEL), (P.COMPLETING, E.CANCEL),
    (P.ROLLING_BACK, E.CANCEL), (P.PATCH_RESTARTING, E.CANCEL), (P.PATCH_VERIFYING, E.CANCEL)}
ILLEGAL = [pe for pe in itertools.product(Phase, Event) if pe not in EXPECTED]


@pytest.mark.parametrize(("phase", "event"), list(EXPECTED))
def test_every_legal_edge_leads_to_the_agreed_phase(phase: Phase, event: Event) -> None:
    assert next_phase(phase, event, paused=True) is EXPECTED[(phase, event)]


@pytest.mark.parametrize(("phase", "event"), sorted(WHEN_PAUSED))
def test_pause_edges_are_refused_while_the_bot_works_on_the_step(phase: Phase,
                                                                 event: Event) -> None:
    with pytest.raises(IllegalTransition):
        next_phase(phase, event, paused=False)
    assert next_phase(phase, event, paused=True) is EXPECTED[(phase, event)]


def test_table_has_no_edge_beyond_the_agreed_ones() -> None:
    assert {(p, e): to for p, e, to in edges()} == EXPECTED


@pytest.mark.parametrize(("phase", "event"), ILLEGAL)
def test_illegal_event_is_refused_naming_the_allowed_events(phase: Phase, event: Event) -> None:
    with pytest.raises(IllegalTransition) as caught:
        next_phase(phase, event, paused=True)
    allowed = {e for (p, e) in EXPECTED if p is phase}
    assert caught.value.allowed == allowed
    assert (caught.value.phase, caught.value.event) == (phase, event)
    for name in allowed:
        assert name in str(caught.value)


def test_refusal_message_says_what_was_asked_and_what_is_possible() -> None:
    with pytest.raises(IllegalTransition, match=r"'complete' is not possible while the run is "
                       r"'rolling'; possible now: fail, roll, rollback, rolled_out"):
        next_phase(Phase.ROLLING, Action.COMPLETE)


def test_terminal_phases_accept_nothing_and_say_the_run_is_over() -> None:
    assert {P.COMPLETED, P.ROLLED_BACK, P.CANCELLED, P.PATCH_DONE} == TERMINAL
    with pytest.raises(IllegalTransition, match="the run is over"):
        next_phase(Phase.COMPLETED, Event.ROLLBACK)


def test_failed_holds_the_cluster_until_a_person_acts() -> None:
    assert not is_terminal(Phase.FAILED)
    assert allowed_actions(Phase.FAILED) == {Action.ROLLBACK, Action.CANCEL}


def test_actions_are_accepted_where_events_are_expected() -> None:
    assert next_phase(Phase.CANARY_READY, Action.ROLL) is Phase.ROLLING


@pytest.mark.parametrize(
    ("phase", "buttons"),
    [
        (P.PLANNED, {Action.START, Action.CANCEL}),
        (P.STARTING, set()),
        (P.CANARY_READY, {Action.ROLL, Action.ROLLBACK}),
        (P.ROLLING, {Action.ROLL, Action.ROLLBACK}),
        (P.VERIFYING, {Action.ROLLBACK}),
        (P.AWAITING_DECISION, {Action.COMPLETE, Action.ROLLBACK, Action.RESTART}),
        (P.COMPLETING, set()),
        (P.COMPLETED, set()),
        (P.PATCH_PLANNED, {Action.RESTART, Action.CANCEL}),
        (P.PATCH_VERIFYING, {Action.RESTART}),
    ],
)
def test_allowed_actions_are_the_buttons_valid_now(phase: Phase, buttons: set[Action]) -> None:
    assert allowed_actions(phase) == buttons


def test_a_failed_patch_run_offers_no_rollback() -> None:
    assert allowed_actions(Phase.FAILED, RunKind.PATCH) == {Action.CANCEL}
    with pytest.raises(IllegalTransition):
        next_phase(Phase.FAILED, Action.ROLLBACK, RunKind.PATCH)
    assert successors(Phase.FAILED, RunKind.PATCH) == {Phase.CANCELLED}


def test_each_kind_starts_in_its_own_planned_phase() -> None:
    assert first_phase(RunKind.MINOR) is Phase.PLANNED
    assert first_phase(RunKind.PATCH) is Phase.PATCH_PLANNED


def test_every_phase_can_reach_a_terminal_phase() -> None:
    for start in Phase:
        seen, frontier = {start}, [start]
        while frontier:
            for nxt in successors(frontier.pop()):
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert seen & TERMINAL, start
