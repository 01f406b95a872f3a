"""Block Kit validation with Slack's limits, so a message Slack would refuse is refused here too.

`validate(blocks)` returns Slack-style error strings ("must be less than 51 items
[json-pointer:/blocks]"); an empty list means the blocks are fine. Limits are those of the
Block Kit reference (and slack_sdk.models); unknown block types are refused as Slack does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

MAX_BLOCKS = 50
TEXT_TYPES = ("plain_text", "mrkdwn")
BUTTON_STYLES = ("primary", "danger")
INTERACTIVE = ("button", "static_select", "external_select", "users_select",
               "conversations_select", "channels_select", "multi_static_select",
               "multi_users_select", "overflow", "datepicker", "timepicker", "datetimepicker",
               "checkboxes", "radio_buttons", "workflow_button")


class Checker:
    """Collects errors while walking one message's blocks."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.action_ids: set[str] = set()
        self.block_ids: set[str] = set()

    def fail(self, message: str, pointer: str) -> None:
        self.errors.append(f"{message} [json-pointer:{pointer}]")

    def need(self, obj: dict[str, Any], key: str, pointer: str) -> bool:
        if key not in obj or obj[key] is None:
            self.fail(f"missing required field: {key}", pointer)
            return False
        return True

    def length(self, value: Any, most: int, pointer: str, least: int = 1) -> None:
        if not isinstance(value, str):
            self.fail("must be a string", pointer)
        elif len(value) > most:
            self.fail(f"must be less than {most + 1} characters", pointer)
        elif len(value) < least:
            self.fail(f"must be more than {least - 1} characters", pointer)

    def items(self, value: Any, most: int, pointer: str, least: int = 1) -> list[Any]:
        if not isinstance(value, list):
            self.fail("must provide an array", pointer)
            return []
        if len(value) > most:
            self.fail(f"must be less than {most + 1} items", pointer)
        elif len(value) < least:
            self.fail(f"must provide at least {least} items", pointer)
        return value

    def text(self, obj: Any, most: int, pointer: str, plain_only: bool = False) -> None:
        if not isinstance(obj, dict):
            self.fail("must provide an object", pointer)
            return
        allowed = ("plain_text",) if plain_only else TEXT_TYPES
        if obj.get("type") not in allowed:
            self.fail("must be a valid enum value", f"{pointer}/type")
        self.length(obj.get("text"), most, f"{pointer}/text")

    def unique(self, seen: set[str], value: Any, what: str, pointer: str) -> None:
        if value in seen:
            self.fail(f"{what} already exists", pointer)
        elif isinstance(value, str):
            seen.add(value)


def validate(blocks: Any, most: int = MAX_BLOCKS, allowed: frozenset[str] | None = None,
             at: str = "/blocks") -> list[str]:
    """Errors of a message's blocks; a view's with its own limit, block types and pointer
    (a home tab: 100 blocks, no `file` or `markdown` block, at "/view/blocks")."""
    check = Checker()
    for index, block in enumerate(check.items(blocks, most, at, least=0)):
        kind = block.get("type") if isinstance(block, dict) else None
        if allowed is not None and isinstance(kind, str) and kind not in allowed:
            check.fail(f"unsupported type: {kind}", f"{at}/{index}/type")
            continue
        _block(check, block, f"{at}/{index}")
    return check.errors


def with_block_ids(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Blocks as Slack stores them: one without a `block_id` gets a generated one."""
    named = []
    for index, block in enumerate(blocks):
        if "block_id" not in block:
            digest = hashlib.sha1(json.dumps(block, sort_keys=True).encode()).hexdigest()
            block = {**block, "block_id": f"{digest[:4]}{index}"}
        named.append(block)
    return named


def _block(check: Checker, block: Any, at: str) -> None:
    if not isinstance(block, dict):
        check.fail("must provide an object", at)
        return
    kind = block.get("type")
    rule = BLOCK_RULES.get(kind) if isinstance(kind, str) else None
    if rule is None:
        check.fail(f"unsupported type: {kind}", f"{at}/type")
        return
    if "block_id" in block:
        check.length(block["block_id"], 255, f"{at}/block_id")
        check.unique(check.block_ids, block["block_id"], "block_id", f"{at}/block_id")
    rule(check, block, at)


def _section(check: Checker, block: dict[str, Any], at: str) -> None:
    if "text" not in block and "fields" not in block:
        check.fail("must provide either text or fields", at)
    if "text" in block:
        check.text(block["text"], 3000, f"{at}/text")
    if "fields" in block:
        for i, item in enumerate(check.items(block["fields"], 10, f"{at}/fields")):
            check.text(item, 2000, f"{at}/fields/{i}")
    if "accessory" in block:
        _element(check, block["accessory"], f"{at}/accessory")


def _header(check: Checker, block: dict[str, Any], at: str) -> None:
    if check.need(block, "text", at):
        check.text(block["text"], 150, f"{at}/text", plain_only=True)


def _context(check: Checker, block: dict[str, Any], at: str) -> None:
    if not check.need(block, "elements", at):
        return
    for i, item in enumerate(check.items(block["elements"], 10, f"{at}/elements")):
        if isinstance(item, dict) and item.get("type") == "image":
            _image_fields(check, item, f"{at}/elements/{i}")
        else:
            check.text(item, 3000, f"{at}/elements/{i}")


def _actions(check: Checker, block: dict[str, Any], at: str) -> None:
    if not check.need(block, "elements", at):
        return
    for i, item in enumerate(check.items(block["elements"], 25, f"{at}/elements")):
        _element(check, item, f"{at}/elements/{i}")


def _image(check: Checker, block: dict[str, Any], at: str) -> None:
    _image_fields(check, block, at)
    if "title" in block:
        check.text(block["title"], 2000, f"{at}/title", plain_only=True)


def _image_fields(check: Checker, image: dict[str, Any], at: str) -> None:
    if check.need(image, "image_url", at):
        check.length(image["image_url"], 3000, f"{at}/image_url")
    if check.need(image, "alt_text", at):
        check.length(image["alt_text"], 2000, f"{at}/alt_text")


def _markdown(check: Checker, block: dict[str, Any], at: str) -> None:
    if check.need(block, "text", at):
        check.length(block["text"], 12000, f"{at}/text")


def _anything(check: Checker, block: dict[str, Any], at: str) -> None:
    """Divider, rich_text, file, input: nothing this bot can get wrong beyond the type."""


def _element(check: Checker, element: Any, at: str) -> None:
    if not isinstance(element, dict):
        check.fail("must provide an object", at)
        return
    kind = element.get("type")
    if kind == "image":
        _image_fields(check, element, at)
        return
    if kind not in INTERACTIVE:
        check.fail(f"unsupported type: {kind}", f"{at}/type")
        return
    if "action_id" in element:
        check.length(element["action_id"], 255, f"{at}/action_id")
        check.unique(check.action_ids, element["action_id"], "action_id", f"{at}/action_id")
    if kind == "button":
        _button(check, element, at)
    if "confirm" in element:
        _confirm(check, element["confirm"], f"{at}/confirm")


def _button(check: Checker, button: dict[str, Any], at: str) -> None:
    if check.need(button, "text", at):
        check.text(button["text"], 75, f"{at}/text", plain_only=True)
    if "value" in button:
        check.length(button["value"], 2000, f"{at}/value")
    if "url" in button:
        check.length(button["url"], 3000, f"{at}/url")
    if "style" in button and button["style"] not in BUTTON_STYLES:
        check.fail("must be a valid enum value", f"{at}/style")


def _confirm(check: Checker, confirm: Any, at: str) -> None:
    if not isinstance(confirm, dict):
        check.fail("must provide an object", at)
        return
    for key, most, plain in (("title", 100, True), ("text", 300, False),
                             ("confirm", 30, True), ("deny", 30, True)):
        if check.need(confirm, key, at):
            check.text(confirm[key], most, f"{at}/{key}", plain_only=plain)
    if "style" in confirm and confirm["style"] not in BUTTON_STYLES:
        check.fail("must be a valid enum value", f"{at}/style")


Rule = Callable[[Checker, dict[str, Any], str], None]
BLOCK_RULES: dict[str, Rule] = {
    "section": _section, "header": _header, "context": _context, "actions": _actions,
    "image": _image, "markdown": _markdown, "divider": _anything, "rich_text": _anything,
    "file": _anything, "input": _anything, "video": _anything,
}
