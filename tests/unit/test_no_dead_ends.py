"""No dead ends, by construction (issue 10): every phase of both flows, paused and not, has a way
forward, and the card offers exactly the actions the bot accepts there, no more."""

from __future__ import annotations

import pytest

from bot.slack.buttons import action_for_id, decode_value
from bot.slack.card import CardView, render_card
from bot.slack.command_text import out_of_turn
from bot.upgrade.phases import (
    Action,
    Phase,
    RunKind,
    allowed_actions,
    is_terminal,
    next_phase,
    successors,
)
from bot.workflow.runner import STEPS

PHASES = {
    RunKind.MINOR: [p for p in Phase if not p.value.startswith("patch_")],
    RunKind.PATCH: [Phase.PATCH_PLANNED, Phase.PATCH_RESTARTING, Phase.PATCH_VERIFYING,
                    Phase.PATCH_DONE, Phase.CANCELLED, Phase.FAILED],
}
WALK = [(kind, phase, paused) for kind, phases in PHASES.items() for phase in phases
        if not is_terminal(phase) for paused in (False, True)]


def _offered(kind: RunKind, phase: Phase, paused: bool) -> set[Action]:
    view = CardView(1, 3, "aks-prod", "asm-1-22", "asm-1-23", phase, kind,
                    paused_reason="ARM said no" if paused else None)
    buttons = [e for b in render_card(view) if b.type == "actions"
               for e in b.elements]  # type: ignore[attr-defined]
    offered = set()
    for button in buttons:
        value = decode_value(button.value, button.action_id)
        assert (value.run_id, value.version) == (1, 3)
        offered.add(action_for_id(button.action_id))
    return offered


@pytest.mark.parametrize(("kind", "phase", "paused"), WALK)
def test_every_phase_has_a_way_forward(kind: RunKind, phase: Phase, paused: bool) -> None:
    actions = allowed_actions(phase, kind, paused)
    if paused or phase not in STEPS:
        assert actions, f"{kind} {phase} (paused={paused}): nobody can move it"
    else:
        assert phase in STEPS  # the bot works on it; a person waits or acts when it pauses
    for action in actions:
        assert next_phase(phase, action, kind, paused) in successors(phase, kind)
    if paused:
        leave = {Action.CANCEL, Action.ROLLBACK}
        assert actions & leave, f"{phase}: a pause must let the cluster go"


@pytest.mark.parametrize(("kind", "phase", "paused"), WALK)
def test_the_card_offers_exactly_what_the_bot_accepts(kind: RunKind, phase: Phase,
                                                      paused: bool) -> None:
    assert _offered(kind, phase, paused) == allowed_actions(phase, kind, paused)


@pytest.mark.parametrize(("kind", "phase", "paused"), WALK)
def test_hints_name_only_actions_the_bot_accepts(kind: RunKind, phase: Phase,
                                                 paused: bool) -> None:
    text = out_of_turn(Action.START, phase, kind, "aks-prod", paused)
    allowed = allowed_actions(phase, kind, paused)
    named = {a for a in Action if f"{a.value} (" in text or f"`{a.value}`" in text.split(
        "Possible now:")[-1]}
    assert named - {Action.START} <= allowed


def test_a_paused_start_can_be_retried_rolled_back_or_cancelled() -> None:
    assert allowed_actions(Phase.STARTING, paused=True) == {
        Action.RETRY, Action.ROLLBACK, Action.CANCEL}
    assert allowed_actions(Phase.STARTING, paused=False) == set()
