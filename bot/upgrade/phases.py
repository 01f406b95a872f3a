"""The phases of an upgrade run and the one table of legal moves between them.

Everything that asks "may this happen now?" (buttons on the card, the store's optimistic
transition, the workflow's next step) reads this table, so the rules live in one place.
Pure: no I/O, and it imports nothing from the project.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class RunKind(StrEnum):
    """A minor-revision canary upgrade, or the patch flow (restart outdated sidecars)."""

    MINOR = "minor"
    PATCH = "patch"


class Phase(StrEnum):
    PLANNED = "planned"
    STARTING = "starting"
    CANARY_READY = "canary_ready"
    ROLLING = "rolling"
    VERIFYING = "verifying"
    AWAITING_DECISION = "awaiting_decision"
    COMPLETING = "completing"
    ROLLING_BACK = "rolling_back"
    COMPLETED = "completed"
    ROLLED_BACK = "rolled_back"
    CANCELLED = "cancelled"
    FAILED = "failed"
    PATCH_PLANNED = "patch_planned"
    PATCH_RESTARTING = "patch_restarting"
    PATCH_VERIFYING = "patch_verifying"
    PATCH_DONE = "patch_done"


class Action(StrEnum):
    """What a person asks for (a button or a command); each needs an approval."""

    START = "start"
    ROLL = "roll"
    COMPLETE = "complete"
    ROLLBACK = "rollback"
    RESTART = "restart"
    CANCEL = "cancel"


class Event(StrEnum):
    """Everything that moves a run: the actions above plus what the workflow observes."""

    START = "start"
    ROLL = "roll"
    COMPLETE = "complete"
    ROLLBACK = "rollback"
    RESTART = "restart"
    CANCEL = "cancel"
    CONTROL_PLANE_READY = "control_plane_ready"
    ROLLED_OUT = "rolled_out"
    SOAK_OVER = "soak_over"
    FINISHED = "finished"
    FAIL = "fail"


P, E = Phase, Event

_ROWS: dict[Phase, dict[Event, Phase]] = {
    P.PLANNED: {E.START: P.STARTING, E.CANCEL: P.CANCELLED, E.FAIL: P.FAILED},
    P.STARTING: {E.CONTROL_PLANE_READY: P.CANARY_READY, E.FAIL: P.FAILED},
    P.CANARY_READY: {E.ROLL: P.ROLLING, E.ROLLBACK: P.ROLLING_BACK, E.FAIL: P.FAILED},
    # ROLL while rolling resumes a run paused on a stuck rollout (the pause is a note, not
    # a phase: see store.Run.pause_reason).
    P.ROLLING: {
        E.ROLLED_OUT: P.VERIFYING, E.ROLL: P.ROLLING,
        E.ROLLBACK: P.ROLLING_BACK, E.FAIL: P.FAILED,
    },
    P.VERIFYING: {E.SOAK_OVER: P.AWAITING_DECISION, E.ROLLBACK: P.ROLLING_BACK, E.FAIL: P.FAILED},
    # RESTART here restarts the stragglers that keep Complete disabled, then soaks again.
    P.AWAITING_DECISION: {
        E.COMPLETE: P.COMPLETING, E.ROLLBACK: P.ROLLING_BACK,
        E.RESTART: P.ROLLING, E.FAIL: P.FAILED,
    },
    P.COMPLETING: {E.FINISHED: P.COMPLETED, E.FAIL: P.FAILED},
    P.ROLLING_BACK: {E.FINISHED: P.ROLLED_BACK, E.FAIL: P.FAILED},
    # A failed run keeps the cluster: a person rolls back through the bot, or fixes it by
    # hand and dismisses the run (CANCEL). Gates in the workflow decide if rollback is safe.
    P.FAILED: {E.ROLLBACK: P.ROLLING_BACK, E.CANCEL: P.CANCELLED},
    P.PATCH_PLANNED: {E.RESTART: P.PATCH_RESTARTING, E.CANCEL: P.CANCELLED, E.FAIL: P.FAILED},
    P.PATCH_RESTARTING: {E.ROLLED_OUT: P.PATCH_VERIFYING, E.FAIL: P.FAILED},
    # RESTART again when the census still finds outdated sidecars.
    P.PATCH_VERIFYING: {
        E.FINISHED: P.PATCH_DONE, E.RESTART: P.PATCH_RESTARTING, E.FAIL: P.FAILED,
    },
    P.COMPLETED: {},
    P.ROLLED_BACK: {},
    P.CANCELLED: {},
    P.PATCH_DONE: {},
}
_TABLE: Mapping[Phase, Mapping[Event, Phase]] = MappingProxyType(
    {phase: MappingProxyType(row) for phase, row in _ROWS.items()}
)

TERMINAL: frozenset[Phase] = frozenset(p for p, edges in _TABLE.items() if not edges)

# Events that make no sense for a patch run (there is no second control plane to drop).
_NOT_FOR_PATCH = frozenset({E.START, E.ROLL, E.COMPLETE, E.ROLLBACK})


class IllegalTransition(Exception):
    """An event that the current phase does not accept; names what it would accept."""

    def __init__(self, phase: Phase, event: Event, allowed: frozenset[Event]) -> None:
        self.phase, self.event, self.allowed = phase, event, allowed
        names = ", ".join(sorted(allowed)) or "nothing (the run is over)"
        super().__init__(f"'{event}' is not possible while the run is '{phase}'; "
                         f"possible now: {names}")


def first_phase(kind: RunKind) -> Phase:
    return Phase.PATCH_PLANNED if kind is RunKind.PATCH else Phase.PLANNED


def is_terminal(phase: Phase) -> bool:
    return phase in TERMINAL


def allowed_events(phase: Phase, kind: RunKind = RunKind.MINOR) -> frozenset[Event]:
    events = frozenset(_TABLE[phase])
    return events - _NOT_FOR_PATCH if kind is RunKind.PATCH else events


def allowed_actions(phase: Phase, kind: RunKind = RunKind.MINOR) -> frozenset[Action]:
    """The buttons that are valid now."""
    actions = {a.value for a in Action}
    return frozenset(Action(e.value) for e in allowed_events(phase, kind) if e.value in actions)


def next_phase(phase: Phase, event: Event | Action, kind: RunKind = RunKind.MINOR) -> Phase:
    """The phase after `event`, or IllegalTransition naming the events allowed now."""
    ev = Event(event.value)
    allowed = allowed_events(phase, kind)
    if ev not in allowed:
        raise IllegalTransition(phase, ev, allowed)
    return _TABLE[phase][ev]


def successors(phase: Phase, kind: RunKind = RunKind.MINOR) -> frozenset[Phase]:
    """Every phase reachable from `phase` in one step, by any event valid for `kind`."""
    return frozenset(_TABLE[phase][e] for e in allowed_events(phase, kind))


def edges() -> tuple[tuple[Phase, Event, Phase], ...]:
    """The whole table as (from, event, to), for documentation and tests."""
    return tuple((p, e, to) for p, row in _TABLE.items() for e, to in row.items())
