"""The vocabulary of what a person can do on a run: action ids, labels and button values.

A button carries only the run id, the action and the run's version (`run=42;a=complete;v=7`);
everything else is read from the store at click time, so a stale or forged click changes
nothing. The decoder is strict: anything that is not exactly what `encode_value` writes is
refused. Phase labels live here too, so the card and the command replies name phases alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType

from bot.upgrade.phases import Action, Phase, RunKind

APPROVE_START = "approve-start"
APPROVE_ROLL = "approve-roll"
APPROVE_COMPLETE = "approve-complete"
APPROVE_ROLLBACK = "approve-rollback"
APPROVE_RESTART = "approve-restart"
CANCEL_RUN = "cancel-run"
RETRY_STEP = "retry-step"

ACTION_IDS: MappingProxyType[Action, str] = MappingProxyType({
    Action.START: APPROVE_START,
    Action.ROLL: APPROVE_ROLL,
    Action.COMPLETE: APPROVE_COMPLETE,
    Action.ROLLBACK: APPROVE_ROLLBACK,
    Action.RESTART: APPROVE_RESTART,
    Action.CANCEL: CANCEL_RUN,
    Action.RETRY: RETRY_STEP,
})
_ACTION_BY_ID = MappingProxyType({aid: action for action, aid in ACTION_IDS.items()})

# Slack allows 2,000 characters in a button value; ours are far shorter, and the decoder
# refuses anything longer than a well-formed value can be before it looks any further.
MAX_VALUE_CHARS = 64
_NUMBER = r"(0|[1-9][0-9]{0,17})"
_VALUE = re.compile(rf"run={_NUMBER};a=([a-z]{{1,16}});v={_NUMBER}")


class InvalidButtonValue(ValueError):
    """A button value (or action id) that the bot never wrote: refused, never guessed at."""


@dataclass(frozen=True)
class ButtonValue:
    run_id: int
    action: Action
    version: int


def action_id(action: Action) -> str:
    return ACTION_IDS[action]


def action_for_id(aid: str) -> Action:
    """The action behind a Slack `action_id`; InvalidButtonValue for an unknown one."""
    try:
        return _ACTION_BY_ID[aid]
    except (KeyError, TypeError):
        raise InvalidButtonValue(f"unknown action id {aid[:40]!r}") from None


def encode_value(run_id: int, action: Action, version: int) -> str:
    if run_id < 0 or version < 0:
        raise ValueError("run id and version are never negative")
    return f"run={run_id};a={action.value};v={version}"


def decode_value(value: str, aid: str | None = None) -> ButtonValue:
    """Parse a button value; with `aid`, the value's action must be that button's action."""
    if not isinstance(value, str) or len(value) > MAX_VALUE_CHARS:
        raise InvalidButtonValue("button value has the wrong type or length")
    match = _VALUE.fullmatch(value)
    if match is None:
        raise InvalidButtonValue(f"malformed button value {value!r}")
    try:
        action = Action(match[2])
    except ValueError:
        raise InvalidButtonValue(f"unknown action {match[2]!r}") from None
    if aid is not None and action_for_id(aid) is not action:
        raise InvalidButtonValue(f"value for {action.value!r} on button {aid!r}")
    return ButtonValue(int(match[1]), action, int(match[3]))


# --- labels -------------------------------------------------------------------------------

_PHASE_LABELS: MappingProxyType[Phase, tuple[str, str]] = MappingProxyType({
    Phase.PLANNED: (":clipboard:", "Planned: waiting for approval to start"),
    Phase.STARTING: (":hourglass_flowing_sand:", "Starting: new control plane coming up"),
    Phase.CANARY_READY: (":large_blue_circle:", "Canary ready: both control planes serve"),
    Phase.ROLLING: (":arrows_counterclockwise:", "Rolling: workloads restarting"),
    Phase.VERIFYING: (":mag:", "Verifying: soak checks running"),
    Phase.AWAITING_DECISION: (":raised_hand:", "Awaiting decision: complete or roll back"),
    Phase.COMPLETING: (":hourglass_flowing_sand:", "Completing: removing the old control plane"),
    Phase.ROLLING_BACK: (":rewind:", "Rolling back to the old revision"),
    Phase.COMPLETED: (":white_check_mark:", "Completed"),
    Phase.ROLLED_BACK: (":leftwards_arrow_with_hook:", "Rolled back"),
    Phase.CANCELLED: (":no_entry_sign:", "Cancelled"),
    Phase.FAILED: (":rotating_light:", "Failed: a person must act"),
    Phase.PATCH_PLANNED: (":clipboard:", "Patch planned: outdated sidecars found"),
    Phase.PATCH_RESTARTING: (":arrows_counterclockwise:", "Restarting outdated workloads"),
    Phase.PATCH_VERIFYING: (":mag:", "Checking that every sidecar is current"),
    Phase.PATCH_DONE: (":white_check_mark:", "Patch done: every sidecar is current"),
})


def phase_emoji(phase: Phase) -> str:
    return _PHASE_LABELS[phase][0]


def phase_label(phase: Phase) -> str:
    return _PHASE_LABELS[phase][1]


def action_label(action: Action, phase: Phase, kind: RunKind = RunKind.MINOR,
                 held_by_traffic: bool = False) -> str:
    """The button text: the same action reads differently depending on where the run is.
    A roll-out a traffic gate holds goes on only after an override with a reason: "Continue…"
    (the workflow names the override command to whoever clicks before one is recorded)."""
    if action is Action.ROLL and phase is Phase.ROLLING:
        return "Continue…" if held_by_traffic else "Resume roll-out"
    if action is Action.RESTART:
        return "Restart outdated" if kind is RunKind.PATCH else "Restart stragglers"
    return _ACTION_LABELS[action]


_ACTION_LABELS: MappingProxyType[Action, str] = MappingProxyType({
    Action.START: "Start upgrade",
    Action.ROLL: "Roll out workloads",
    Action.COMPLETE: "Complete",
    Action.ROLLBACK: "Roll back",
    Action.RESTART: "Restart",
    Action.CANCEL: "Cancel run",
    Action.RETRY: "Retry now",
})
