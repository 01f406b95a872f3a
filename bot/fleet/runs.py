"""A fleet run: one target revision taken through a fleet's rings, one ring at a time.

The records (the fleet run, and each cluster's place in it) and the rules that move it: which
clusters of the current ring start next (at most `max_parallel` at once), when a ring is done
and soaks, when promotion to the next ring may be asked for, and what stops the fleet (a
cluster of the ring that rolled back, failed or was cancelled). Each cluster's own run is a
normal run with its own card and approvals; this module only reads the phase it is in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from bot.upgrade.phases import Phase


class FleetPhase(StrEnum):
    RUNNING = "running"  # the current ring's clusters upgrade
    SOAKING = "soaking"  # the ring is done and proves itself before promotion
    AWAITING_PROMOTION = "awaiting_promotion"  # the fleet's approvers promote to the next ring
    STOPPED = "stopped"  # a cluster of the ring rolled back, failed or was cancelled
    PAUSED = "paused"  # a person paused it: no new cluster starts, nothing is promoted
    COMPLETED = "completed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({FleetPhase.COMPLETED, FleetPhase.CANCELLED})


class FleetAction(StrEnum):
    """What a person may do to a fleet run (a button on the fleet card, or a command)."""

    PROMOTE = "promote"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"


_ACTIONS: dict[FleetPhase, frozenset[FleetAction]] = {
    FleetPhase.RUNNING: frozenset({FleetAction.PAUSE, FleetAction.CANCEL}),
    FleetPhase.SOAKING: frozenset({FleetAction.PAUSE, FleetAction.CANCEL}),
    FleetPhase.AWAITING_PROMOTION: frozenset({FleetAction.PROMOTE, FleetAction.PAUSE,
                                              FleetAction.CANCEL}),
    FleetPhase.STOPPED: frozenset({FleetAction.RESUME, FleetAction.CANCEL}),
    FleetPhase.PAUSED: frozenset({FleetAction.RESUME, FleetAction.CANCEL}),
}


class MemberState(StrEnum):
    PENDING = "pending"  # its ring has not reached it yet
    RUNNING = "running"  # its own run is under way
    COMPLETED = "completed"  # its run completed: it is on the target
    AT_TARGET = "at_target"  # it was on the target already: nothing to do
    SKIPPED = "skipped"  # it cannot take the target (the fleet skips such clusters)
    STOPPED = "stopped"  # its run rolled back, failed or was cancelled


SETTLED = frozenset({MemberState.COMPLETED, MemberState.AT_TARGET, MemberState.SKIPPED})
_RUN_STOPS = {Phase.ROLLED_BACK: "rolled back", Phase.CANCELLED: "was cancelled",
              Phase.FAILED: "failed"}


@dataclass(frozen=True)
class RingSpec:
    name: str
    max_parallel: int
    soak: timedelta


@dataclass(frozen=True)
class FleetRun:
    id: int
    fleet: str
    target: str
    requested_by: str
    phase: FleetPhase
    ring: int  # index of the ring under way (or soaking, or waiting for promotion from)
    note: str  # why it stopped or was paused; empty otherwise
    soak_until: datetime | None
    asked_at: datetime | None  # when promotion was asked for
    version: int
    created_at: datetime
    updated_at: datetime

    @property
    def over(self) -> bool:
        return self.phase in TERMINAL

    def actions(self) -> frozenset[FleetAction]:
        return _ACTIONS.get(self.phase, frozenset())


@dataclass(frozen=True)
class Member:
    cluster: str
    ring: int
    state: MemberState
    run_id: int | None = None
    reason: str = ""  # why skipped or stopped; what the plan said
    finished_at: datetime | None = None


class MoveKind(StrEnum):
    START = "start"  # start these clusters' runs
    STOP = "stop"  # a cluster of the ring stopped: stop promotion
    SOAK = "soak"  # the ring is done: soak until `until`
    ASK = "ask"  # the soak is over: ask for promotion
    COMPLETE = "complete"  # the last ring is done
    WAIT = "wait"  # nothing to do now (until `until`, if known)


@dataclass(frozen=True)
class Move:
    kind: MoveKind
    clusters: tuple[str, ...] = ()
    why: str = ""
    until: datetime | None = None


def settled_member(member: Member, run_phase: Phase, at: datetime, why: str = "") -> Member:
    """The member once its run is in `run_phase`: completed, stopped (and why), or as it was."""
    if member.state is not MemberState.RUNNING:
        return member
    if run_phase is Phase.COMPLETED:
        return replace(member, state=MemberState.COMPLETED, finished_at=at, reason="")
    stop = _RUN_STOPS.get(run_phase)
    if stop is None:
        return member
    return replace(member, state=MemberState.STOPPED, finished_at=at,
                   reason=f"its run {stop}" + (f": {why}" if why else ""))


def next_move(run: FleetRun, rings: Sequence[RingSpec], members: Sequence[Member],
              now: datetime) -> Move:
    """What the fleet does next, from its phase and its members as they are now."""
    if run.phase is FleetPhase.SOAKING:
        if run.soak_until is None or now >= run.soak_until:
            return Move(MoveKind.ASK, why=f"ring {rings[run.ring].name} soaked")
        return Move(MoveKind.WAIT, until=run.soak_until)
    if run.phase is not FleetPhase.RUNNING:
        return Move(MoveKind.WAIT)
    ring = [m for m in members if m.ring == run.ring]
    if stopped := [m for m in ring if m.state is MemberState.STOPPED]:
        return Move(MoveKind.STOP, tuple(m.cluster for m in stopped),
                    "; ".join(f"{m.cluster}: {m.reason}" for m in stopped))
    if all(m.state in SETTLED for m in ring):
        if run.ring == len(rings) - 1:
            return Move(MoveKind.COMPLETE, why="every ring is done")
        done = [m.finished_at for m in ring if m.finished_at is not None]
        until = max(done, default=now) + rings[run.ring].soak
        return Move(MoveKind.SOAK, why=f"ring {rings[run.ring].name} is done", until=until)
    running = sum(1 for m in ring if m.state is MemberState.RUNNING)
    slots = rings[run.ring].max_parallel - running
    pending = tuple(m.cluster for m in ring if m.state is MemberState.PENDING)
    if slots > 0 and pending:
        return Move(MoveKind.START, pending[:slots])
    return Move(MoveKind.WAIT)


def resumed(members: Sequence[Member], ring: int) -> tuple[Member, ...]:
    """The members after a person resumed a stopped fleet: the ring's stopped clusters start
    anew (their runs are over: the workflow refuses to resume while one still fails)."""
    return tuple(replace(m, state=MemberState.PENDING, run_id=None, reason="", finished_at=None)
                 if m.ring == ring and m.state is MemberState.STOPPED else m for m in members)
