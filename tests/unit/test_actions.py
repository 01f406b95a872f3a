"""Button values carry run id, action and version only, and the decoder refuses anything else."""

from __future__ import annotations

import pytest

from bot.slack.buttons import (
    ACTION_IDS,
    APPROVE_COMPLETE,
    APPROVE_ROLLBACK,
    ButtonValue,
    InvalidButtonValue,
    action_for_id,
    decode_value,
    encode_value,
)
from bot.upgrade.phases import Action


def test_a_value_round_trips_through_the_codec() -> None:
    value = encode_value(42, Action.COMPLETE, 7)
    assert value == "run=42;a=complete;v=7"
    assert decode_value(value, APPROVE_COMPLETE) == ButtonValue(42, Action.COMPLETE, 7)


@pytest.mark.parametrize("action", list(Action))
def test_every_action_round_trips_with_its_own_button(action: Action) -> None:
    value = encode_value(10**12, action, 0)
    assert len(value) < 2000
    assert decode_value(value, ACTION_IDS[action]) == ButtonValue(10**12, action, 0)


@pytest.mark.parametrize("tampered", [
    "", "run=42;a=complete", "run=42;a=complete;v=7;x=1", "run=42;a=complete;v=7 ",
    " run=42;a=complete;v=7", "run=-1;a=complete;v=7", "run=042;a=complete;v=7",
    "run=42;a=COMPLETE;v=7", "run=42;a=destroy;v=7", "run=42;v=7;a=complete",
    "run=4.2;a=complete;v=7", "run=42;a=complete;v=7\n", "run=\uff11\uff12;a=complete;v=7",
    '{"run": 42, "a": "complete", "v": 7}', "run=42;a=complete;v=" + "9" * 2000,
])
def test_tampered_or_malformed_values_are_refused(tampered: str) -> None:
    with pytest.raises(InvalidButtonValue):
        decode_value(tampered)


def test_a_value_moved_to_another_button_is_refused() -> None:
    rollback_value = encode_value(42, Action.ROLLBACK, 7)
    assert decode_value(rollback_value, APPROVE_ROLLBACK).action is Action.ROLLBACK
    with pytest.raises(InvalidButtonValue):
        decode_value(rollback_value, APPROVE_COMPLETE)


def test_unknown_action_ids_are_refused() -> None:
    with pytest.raises(InvalidButtonValue):
        action_for_id("approve-everything")


def test_action_ids_are_unique_kebab_case() -> None:
    ids = list(ACTION_IDS.values())
    assert len(set(ids)) == len(ids) == len(Action)
    assert all(i == i.lower() and "_" not in i and " " not in i for i in ids)
    assert {action_for_id(i) for i in ids} == set(Action)
