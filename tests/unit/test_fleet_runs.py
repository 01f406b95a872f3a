"""The rules of a fleet run: which clusters of the ring start next, what stops the fleet, when a
ring soaks and promotion is asked for, and what a cluster's own run means for its member."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.fleet.runs import (
    FleetAction,
    FleetPhase,
    FleetRun,
    Member,
    MemberState,
    Move,
    MoveKind,
    RingSpec,
    next_move,
    resumed,
    settled_member,
)
from bot.upgrade.phases import Phase

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
RINGS = (RingSpec("dev", 2, timedelta(hours=1)), RingSpec("prod", 1, timedelta(hours=4)))
P, R, C, A, S, X = (MemberState.PENDING, MemberState.RUNNING, MemberState.COMPLETED,
                    MemberState.AT_TARGET, MemberState.SKIPPED, MemberState.STOPPED)


def fleet_run(phase: FleetPhase = FleetPhase.RUNNING, ring: int = 0,
              soak_until: datetime | None = None) -> FleetRun:
    return FleetRun(1, "global", "asm-1-24", "U0ALICE", phase, ring, "", soak_until, None, 1,
                    T0, T0)


def ring_of(ring: int, *states: MemberState) -> list[Member]:
    """Members of one ring, in a fleet order that is not alphabetical (so sorting shows)."""
    return [Member(f"ring{ring}-{'zyxwvu'[i]}", ring, s) for i, s in enumerate(states)]


def names(members: list[Member], *indexes: int) -> tuple[str, ...]:
    return tuple(members[i].cluster for i in indexes)


# --- START and WAIT: at most max_parallel clusters of the ring at once ----------------------


@pytest.mark.parametrize(("states", "started"), [
    ((R, R, P, P, P), None),  # both slots taken: wait
    ((R, P, P, P), (1,)),  # one slot: the first pending
    ((P, P, P), (0, 1)),  # two slots: the first two, in fleet order
    ((C, R, P, P), (2,)),  # a completed cluster frees its slot
    ((A, S, P, P, P), (2, 3)),  # at-target and skipped ones hold no slot
    ((P, R, P), (0,)),  # order is the fleet's, not "after the running one"
    ((C, R, A), None),  # nothing pending, one still running: wait
])
def test_start_fills_only_the_free_slots_of_the_ring_in_fleet_order(
        states: tuple[MemberState, ...], started: tuple[int, ...] | None) -> None:
    ring0 = ring_of(0, *states)
    members = ring0 + ring_of(1, P, P)  # the next ring's pending clusters never start early
    move = next_move(fleet_run(), RINGS, members, T0)
    if started is None:
        assert move == Move(MoveKind.WAIT)
    else:
        assert move == Move(MoveKind.START, names(ring0, *started))


def test_start_uses_the_current_rings_max_parallel() -> None:
    ring1 = ring_of(1, P, P, P)
    members = ring_of(0, C, C) + ring1
    assert next_move(fleet_run(ring=1), RINGS, members, T0) == Move(MoveKind.START,
                                                                     names(ring1, 0))


# --- STOP -------------------------------------------------------------------------------------


def test_stop_names_every_stopped_cluster_of_the_ring_and_why() -> None:
    ring0 = [Member("dev-a", 0, X, 7, "its run failed: ARM 409"),
             Member("dev-b", 0, R, 8),
             Member("dev-c", 0, X, 9, "its run rolled back"),
             Member("dev-d", 0, P)]
    move = next_move(fleet_run(), RINGS, [*ring0, Member("prod-a", 1, X, 3, "old")], T0)
    assert move == Move(MoveKind.STOP, ("dev-a", "dev-c"),
                        "dev-a: its run failed: ARM 409; dev-c: its run rolled back")


def test_stopped_clusters_of_other_rings_do_not_stop_the_current_one() -> None:
    ring1 = ring_of(1, P, P)
    members = [Member("dev-a", 0, X, 7, "its run was cancelled"), *ring1]
    assert next_move(fleet_run(ring=1), RINGS, members, T0) == Move(MoveKind.START,
                                                                     names(ring1, 0))


# --- SOAK, ASK, COMPLETE ----------------------------------------------------------------------


def test_a_settled_ring_soaks_from_its_latest_finish() -> None:
    ring0 = [Member("dev-a", 0, C, 1, finished_at=T0 + timedelta(minutes=5)),
             Member("dev-b", 0, C, 2, finished_at=T0 + timedelta(minutes=20)),
             Member("dev-c", 0, A), Member("dev-d", 0, S, reason="AKS offers asm-1-22")]
    now = T0 + timedelta(minutes=30)
    move = next_move(fleet_run(), RINGS, ring0 + ring_of(1, P), now)
    assert move.kind is MoveKind.SOAK and "dev" in move.why
    assert move.until == T0 + timedelta(minutes=20) + RINGS[0].soak


def test_a_ring_with_nothing_to_upgrade_soaks_from_now() -> None:
    now = T0 + timedelta(minutes=30)
    move = next_move(fleet_run(), RINGS, ring_of(0, A, S, A) + ring_of(1, P), now)
    assert (move.kind, move.until) == (MoveKind.SOAK, now + RINGS[0].soak)


@pytest.mark.parametrize(("after", "kind"), [
    (timedelta(minutes=59, seconds=59), MoveKind.WAIT),
    (timedelta(hours=1), MoveKind.ASK),
    (timedelta(hours=3), MoveKind.ASK),
])
def test_promotion_is_asked_for_only_once_the_soak_is_over(after: timedelta,
                                                           kind: MoveKind) -> None:
    until = T0 + timedelta(hours=1)
    run = fleet_run(FleetPhase.SOAKING, soak_until=until)
    move = next_move(run, RINGS, ring_of(0, C, C) + ring_of(1, P), T0 + after)
    assert move.kind is kind
    if kind is MoveKind.WAIT:
        assert move.until == until
    else:
        assert move.why == "ring dev soaked"


def test_a_soak_without_an_end_asks_at_once() -> None:
    run = fleet_run(FleetPhase.SOAKING, soak_until=None)
    assert next_move(run, RINGS, ring_of(0, C), T0).kind is MoveKind.ASK


def test_the_last_ring_settled_completes_the_fleet_without_soaking() -> None:
    members = [*ring_of(0, C, C), Member("prod-a", 1, C, 4, finished_at=T0),
               Member("prod-b", 1, S)]
    move = next_move(fleet_run(ring=1), RINGS, members, T0)
    assert (move.kind, move.until) == (MoveKind.COMPLETE, None)


@pytest.mark.parametrize("phase", [FleetPhase.STOPPED, FleetPhase.PAUSED,
                                   FleetPhase.AWAITING_PROMOTION, FleetPhase.COMPLETED,
                                   FleetPhase.CANCELLED])
def test_a_fleet_that_is_not_running_or_soaking_only_waits(phase: FleetPhase) -> None:
    members = ring_of(0, X, P, P)  # as RUNNING this would STOP; pending ones would START
    assert next_move(fleet_run(phase), RINGS, members, T0) == Move(MoveKind.WAIT)


# --- a cluster's own run, read into its member ------------------------------------------------


@pytest.mark.parametrize(("phase", "why", "state", "reason"), [
    (Phase.COMPLETED, "ignored", C, ""),
    (Phase.ROLLED_BACK, "the error-rate gate failed", X,
     "its run rolled back: the error-rate gate failed"),
    (Phase.CANCELLED, "", X, "its run was cancelled"),
    (Phase.CANCELLED, "U0BOB cancelled it", X, "its run was cancelled: U0BOB cancelled it"),
    (Phase.FAILED, "ARM returned 409", X, "its run failed: ARM returned 409"),
])
def test_a_finished_run_settles_its_member(phase: Phase, why: str, state: MemberState,
                                           reason: str) -> None:
    member = Member("dev-a", 0, R, 7, "plan: minor upgrade")
    at = T0 + timedelta(minutes=12)
    after = settled_member(member, phase, at, why)
    assert after == Member("dev-a", 0, state, 7, reason, at)


@pytest.mark.parametrize("phase", [Phase.PLANNED, Phase.STARTING, Phase.CANARY_READY,
                                   Phase.ROLLING, Phase.VERIFYING, Phase.AWAITING_DECISION,
                                   Phase.COMPLETING, Phase.ROLLING_BACK])
def test_a_run_under_way_leaves_its_member_running(phase: Phase) -> None:
    member = Member("dev-a", 0, R, 7, "plan: minor upgrade")
    assert settled_member(member, phase, T0, "why") == member


@pytest.mark.parametrize("state", [P, C, A, S, X])
@pytest.mark.parametrize("phase", [Phase.COMPLETED, Phase.FAILED])
def test_only_a_running_member_is_settled(state: MemberState, phase: Phase) -> None:
    member = Member("dev-a", 0, state, 7, "as it was", T0)
    assert settled_member(member, phase, T0 + timedelta(hours=1), "why") == member


# --- resume -----------------------------------------------------------------------------------


def test_resume_restarts_only_the_given_rings_stopped_members() -> None:
    done = T0 + timedelta(minutes=3)
    members = (Member("dev-a", 0, X, 7, "its run failed", done),
               Member("dev-b", 0, C, 8, "", done),
               Member("dev-c", 0, R, 9),
               Member("prod-a", 1, X, 3, "its run rolled back", done),
               Member("dev-d", 0, X, 10, "its run was cancelled", done))
    after = resumed(members, 0)
    assert after == (Member("dev-a", 0, P), members[1], members[2], members[3],
                     Member("dev-d", 0, P))


def test_resume_of_a_ring_with_nothing_stopped_changes_nothing() -> None:
    members = (Member("dev-a", 0, C, 8, "", T0), Member("prod-a", 1, X, 3, "failed", T0))
    assert resumed(members, 0) == members


# --- what people may do -----------------------------------------------------------------------


@pytest.mark.parametrize(("phase", "actions", "over"), [
    (FleetPhase.RUNNING, {FleetAction.PAUSE, FleetAction.CANCEL}, False),
    (FleetPhase.SOAKING, {FleetAction.PAUSE, FleetAction.CANCEL}, False),
    (FleetPhase.AWAITING_PROMOTION,
     {FleetAction.PROMOTE, FleetAction.PAUSE, FleetAction.CANCEL}, False),
    (FleetPhase.STOPPED, {FleetAction.RESUME, FleetAction.CANCEL}, False),
    (FleetPhase.PAUSED, {FleetAction.RESUME, FleetAction.CANCEL}, False),
    (FleetPhase.COMPLETED, set(), True),
    (FleetPhase.CANCELLED, set(), True),
])
def test_each_phase_offers_its_own_actions(phase: FleetPhase, actions: set[FleetAction],
                                           over: bool) -> None:
    run = fleet_run(phase)
    assert run.actions() == frozenset(actions)
    assert run.over is over


def test_every_phase_is_in_the_actions_table() -> None:
    covered = {FleetPhase.RUNNING, FleetPhase.SOAKING, FleetPhase.AWAITING_PROMOTION,
               FleetPhase.STOPPED, FleetPhase.PAUSED, FleetPhase.COMPLETED,
               FleetPhase.CANCELLED}
    assert set(FleetPhase) == covered
