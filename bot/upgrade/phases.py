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
    RETRY = "retry"  # a paused step, tried again now


class Event(StrEnum):
    """Everything that moves a run: the actions above plus what the workflow observes."""

    START = "start"
    ROLL = "roll"
    COMPLETE = "complete"
    ROLLBACK = "rollback"
    RESTART = "restart"
    CANCEL = "cancel"
    RETRY = "retry"
    CONTROL_PLANE_READY = "control_plane_ready"
    ROLLED_OUT = "rolled_out"
    SOAK_OVER = "soak_over"
    FINISHED = "finished"
    FAIL = "fail"


P, E = Phase, Event

_ROWS: dict[Phase, dict[Event, Phase]] = {
    P.PLANNED: {E.START: P.STARTING, E.CANCEL: P.CANCELLED, E.FAIL: P.FAILED},
    # From a pause (only then: see _WHEN_PAUSED) a person may retry the step, roll back while
    # it is safe, or cancel, which gives the cluster back as it is: no phase is a dead end.
    P.STARTING: {
        E.CONTROL_PLANE_READY: P.CANARY_READY, E.RETRY: P.STARTING,
        E.ROLLBACK: P.ROLLING_BACK, E.CANCEL: P.CANCELLED, E.FAIL: P.FAILED,
    },
    P.CANARY_READY: {E.ROLL: P.ROLLING, E.ROLLBACK: P.ROLLING_BACK, E.FAIL: P.FAILED},
    # ROLL while rolling resumes a run paused on a stuck rollout (the pause is a note, not
    # a phase: see store.Run.pause_reason).
    P.ROLLING: {
        E.ROLLED_OUT: P.VERIFYING, E.ROLL: P.ROLLING,
        E.ROLLBACK: P.ROLLING_BACK, E.FAIL: P.FAILED,
    },
    P.VERIFYING: {
        E.SOAK_OVER: P.AWAITING_DECISION, E.RETRY: P.VERIFYING, E.ROLLBACK: P.ROLLING_BACK,
        E.FAIL: P.FAILED,
    },
    # RESTART here restarts the stragglers that keep Complete disabled, then soaks again.
    P.AWAITING_DECISION: {
        E.COMPLETE: P.COMPLETING, E.ROLLBACK: P.ROLLING_BACK,
        E.RESTART: P.ROLLING, E.FAIL: P.FAILED,
    },
    P.COMPLETING: {
        E.FINISHED: P.COMPLETED, E.RETRY: P.COMPLETING, E.CANCEL: P.CANCELLED, E.FAIL: P.FAILED,
    },
    P.ROLLING_BACK: {
        E.FINISHED: P.ROLLED_BACK, E.RETRY: P.ROLLING_BACK, E.CANCEL: P.CANCELLED,
        E.FAIL: P.FAILED,
    },
    # A failed run keeps the cluster: a person rolls back through the bot, or fixes it by
    # hand and dismisses the run (CANCEL). Gates in the workflow decide if rollback is safe.
    P.FAILED: {E.ROLLBACK: P.ROLLING_BACK, E.CANCEL: P.CANCELLED},
    P.PATCH_PLANNED: {E.RESTART: P.PATCH_RESTARTING, E.CANCEL: P.CANCELLED, E.FAIL: P.FAILED},
    P.PATCH_RESTARTING: {
        E.ROLLED_OUT: P.PATCH_VERIFYING, E.RETRY: P.PATCH_RESTARTING, E.CANCEL: P.CANCELLED,
        E.FAIL: P.FAILED,
    },
    # RESTART again when the census still finds outdated sidecars.
    P.PATCH_VERIFYING: {
        E.FINISHED: P.PATCH_DONE, E.RESTART: P.PATCH_RESTARTING, E.RETRY: P.PATCH_VERIFYING,
        E.CANCEL: P.CANCELLED, E.FAIL: P.FAILED,
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
# Edges a person may take only while the run is paused: while the bot works on a step, a
# retry or a cancel would race it.
_WHEN_PAUSED = frozenset(
    {(p, E.RETRY) for p, row in _ROWS.items() if E.RETRY in row}
    | {(P.STARTING, E.ROLLBACK), (P.STARTING, E.CANCEL), (P.COMPLETING, E.CANCEL),
       (P.ROLLING_BACK, E.CANCEL), (P.PATCH_RESTARTING, E.CANCEL),
       (P.PATCH_VERIFYING, E.CANCEL)})


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


def allowed_events(phase: Phase, kind: RunKind = RunKind.MINOR,
                   paused: bool = False) -> frozenset[Event]:
    events = frozenset(_TABLE[phase])
    if kind is RunKind.PATCH:
        events -= _NOT_FOR_PATCH
    return events if paused else frozenset(e for e in events if (phase, e) not in _WHEN_PAUSED)


def allowed_actions(phase: Phase, kind: RunKind = RunKind.MINOR,
                    paused: bool = False) -> frozenset[Action]:
    """The buttons that are valid now (`paused`: the run waits for a person)."""
    actions = {a.value for a in Action}
    return frozenset(Action(e.value) for e in allowed_events(phase, kind, paused)
                     if e.value in actions)


def next_phase(phase: Phase, event: Event | Action, kind: RunKind = RunKind.MINOR,
               paused: bool = False) -> Phase:
    """The phase after `event`, or IllegalTransition naming the events allowed now."""
    ev = Event(event.value)
    allowed = allowed_events(phase, kind, paused)
    if ev not in allowed:
        raise IllegalTransition(phase, ev, allowed)
    return _TABLE[phase][ev]


def successors(phase: Phase, kind: RunKind = RunKind.MINOR) -> frozenset[Phase]:
    """Every phase reachable from `phase` in one step, by any event valid for `kind`."""
    return frozenset(_TABLE[phase][e] for e in allowed_events(phase, kind, paused=True))


def edges() -> tuple[tuple[Phase, Event, Phase], ...]:
    """The whole table as (from, event, to), for documentation and tests."""
    return tuple((p, e, to) for p, row in _TABLE.items() for e, to in row.items())
