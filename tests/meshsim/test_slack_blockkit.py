"""Block Kit limits: what Slack refuses with `invalid_blocks`, and what it accepts."""

from __future__ import annotations

from typing import Any

import pytest

from meshsim.slack.blockkit import validate, with_block_ids


def plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def button(action_id: str = "approve", **extra: Any) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": plain("Approve"), **extra}


def actions(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "elements": list(elements)}


CONFIRM = {"title": plain("Sure?"), "text": {"type": "mrkdwn", "text": "Really roll?"},
           "confirm": plain("Roll"), "deny": plain("Wait")}


def test_a_full_upgrade_card_is_valid() -> None:
    card = [
        {"type": "header", "text": plain("aks-prod: asm-1-23 -> asm-1-24")},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Phase* planned"},
         "fields": [{"type": "mrkdwn", "text": f"*f{i}*"} for i in range(10)]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "run 1"}]},
        {"type": "divider"},
        {"type": "image", "image_url": "https://example.com/p.png", "alt_text": "progress"},
        actions(button("start", style="primary", value="run-1", confirm=CONFIRM),
                button("cancel", style="danger", value="run-1")),
    ]
    assert validate(card) == []


@pytest.mark.parametrize(("blocks", "error"), [
    ([{"type": "header", "text": plain("h" * 151)}],
     "must be less than 151 characters [json-pointer:/blocks/0/text/text]"),
    ([{"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}}],
     "must be a valid enum value [json-pointer:/blocks/0/text/type]"),
    ([actions(*[button(f"b{i}") for i in range(26)])],
     "must be less than 26 items [json-pointer:/blocks/0/elements]"),
    ([actions(button("same")), actions(button("same"))],
     "action_id already exists [json-pointer:/blocks/1/elements/0/action_id]"),
    ([actions(button(value="v" * 2001))],
     "must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]"),
    ([actions({"type": "button", "action_id": "a", "text": plain("t" * 76)})],
     "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]"),
    ([actions(button(style="green"))],
     "must be a valid enum value [json-pointer:/blocks/0/elements/0/style]"),
    ([{"type": "section", "fields": [plain("f")] * 11}],
     "must be less than 11 items [json-pointer:/blocks/0/fields]"),
    ([{"type": "section", "fields": [plain("f" * 2001)]}],
     "must be less than 2001 characters [json-pointer:/blocks/0/fields/0/text]"),
    ([{"type": "section"}], "must provide either text or fields [json-pointer:/blocks/0]"),
    ([actions(button(confirm={**CONFIRM, "deny": None}))],
     "missing required field: deny [json-pointer:/blocks/0/elements/0/confirm]"),
    ([actions(button(confirm={**CONFIRM, "title": plain("t" * 101)}))],
     "must be less than 101 characters [json-pointer:/blocks/0/elements/0/confirm/title/text]"),
    ([actions(button(confirm={**CONFIRM, "confirm": plain("c" * 31)}))],
     "must be less than 31 characters [json-pointer:/blocks/0/elements/0/confirm/confirm/text]"),
    ([{"type": "context", "elements": [plain("c")] * 11}],
     "must be less than 11 items [json-pointer:/blocks/0/elements]"),
    ([{"type": "divider", "block_id": "x" * 256}],
     "must be less than 256 characters [json-pointer:/blocks/0/block_id]"),
    ([{"type": "divider", "block_id": "a"}, {"type": "divider", "block_id": "a"}],
     "block_id already exists [json-pointer:/blocks/1/block_id]"),
    ([{"type": "table"}], "unsupported type: table [json-pointer:/blocks/0/type]"),
    ([{"type": "image", "image_url": "https://example.com/p.png"}],
     "missing required field: alt_text [json-pointer:/blocks/0]"),
    ({"type": "divider"}, "must provide an array [json-pointer:/blocks]"),
])
def test_limits_are_refused_with_slack_style_errors(blocks: Any, error: str) -> None:
    assert validate(blocks) == [error]


def test_blocks_without_block_id_get_distinct_generated_ones() -> None:
    named = with_block_ids([{"type": "divider"}, {"type": "divider"},
                            {"type": "divider", "block_id": "keep"}])
    ids = [b["block_id"] for b in named]
    assert len(set(ids)) == 3 and ids[2] == "keep"
