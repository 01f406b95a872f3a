"""What happened in a run, one value per thing, for whoever watches (logs, metrics).

The workflow says it once it is committed: every audit entry it writes becomes an event of
the entry's kind (AuditKind), and each step that runs adds `step_started` and `step_finished`
(with its StepKind, what it waits for and how long it took) and a gate's `gate` verdict. The
composition root hands the Workflow a sink (bot/runtime/events.py logs JSON and counts);
nothing flows back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.upgrade.kinds import StepKind
from bot.upgrade.phases import Phase
from bot.upgrade.records import NewAuditEntry, Run

BOT_ACTORS = frozenset({"bot", "scheduler"})  # audit actors that are not a person


class StepEvent(StrEnum):
    """Events that are not audit entries (those keep their AuditKind as their name)."""

    STEP_STARTED = "step_started"
    STEP_FINISHED = "step_finished"
    GATE = "gate"  # detail: gate, verdict (passed, refused, waiting), why


@dataclass(frozen=True)
class RunEvent:
    event: str  # an AuditKind or StepEvent value
    run_id: int | None
    cluster: str
    phase: str | None  # the run's phase once the thing happened
    what: str  # a sentence for people
    user: str | None = None  # the Slack user who did it; None for the bot's own doing
    detail: Mapping[str, Any] = field(default_factory=dict)


EventSink = Callable[[RunEvent], None]


def ignore(_event: RunEvent) -> None:
    """The sink of a Workflow nobody watches (the CLI's one-off commands)."""


def user_of(actor: str) -> str | None:
    return None if actor in BOT_ACTORS else actor


def audited(run: Run, entry: NewAuditEntry, came_from: Phase | None = None) -> RunEvent:
    """The event of an audit entry about `run`, as the run is after the entry's commit;
    `came_from` is the phase a phase change left."""
    detail = entry.detail if came_from is None else {**entry.detail, "from": came_from.value}
    return RunEvent(entry.kind.value, run.id, run.cluster, run.phase.value, entry.what,
                    user_of(entry.actor), detail)


def step_started(run: Run) -> RunEvent:
    return RunEvent(StepEvent.STEP_STARTED.value, run.id, run.cluster, run.phase.value,
                    f"step of {run.phase.value} started")


def step_finished(run: Run, kind: StepKind, did: str, wait: str, seconds: float) -> RunEvent:
    """`run` as the step found it: a step belongs to that phase, even if it moved the run."""
    return RunEvent(StepEvent.STEP_FINISHED.value, run.id, run.cluster, run.phase.value, did,
                    None, {"step": kind.value, "wait": wait, "seconds": round(seconds, 6)})


def gate_verdict(run: Run, gate: str, verdict: str, why: str = "") -> RunEvent:
    """A gate's verdict: `passed`, `refused` (a person must act) or `waiting` (looked again)."""
    return RunEvent(StepEvent.GATE.value, run.id, run.cluster, run.phase.value,
                    f"gate {gate}: {verdict}" + (f": {why}" if why else ""), None,
                    {"gate": gate, "verdict": verdict})
