"""The payloads Slack sends an app: a slash command, and a block_actions click on a button.

Field names and shapes follow what Slack delivers (and Bolt parses): a command is flat string
fields (form-encoded over HTTP), a click is the nested `block_actions` object with `user`,
`container`, `message` (as the clicking client saw it), `actions`, `response_url`, `trigger_id`.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from typing import Any

from meshsim.slack import seed
from meshsim.slack.workspace import JSON, Ephemeral, Message

_triggers = itertools.count(1)


@dataclass(frozen=True)
class Hooks:
    """What Slack mints for one interaction: where to respond, the modal trigger, its moment."""

    response_url: str
    trigger_id: str
    action_ts: str


class NotFound(LookupError):
    """No such user, channel, message or button: the control API answers 404 with this text."""


def trigger_id(now: float) -> str:
    return f"{int(now)}.{next(_triggers)}.{secrets.token_hex(16)}"


def command_payload(user: seed.User, channel: seed.Channel, command: str, text: str,
                    response_url: str, trigger: str) -> dict[str, str]:
    return {
        "token": seed.VERIFICATION_TOKEN, "team_id": seed.TEAM_ID,
        "team_domain": seed.TEAM_DOMAIN, "channel_id": channel.id, "channel_name": channel.name,
        "user_id": user.id, "user_name": user.name, "command": command, "text": text,
        "api_app_id": seed.APP_ID, "is_enterprise_install": "false",
        "response_url": response_url, "trigger_id": trigger,
    }


def find_button(blocks: list[JSON], action_id: str) -> tuple[str, JSON]:
    """(block_id, element) of the interactive element with `action_id`, in actions or accessory."""
    for block in blocks:
        candidates: list[Any] = []
        if block.get("type") == "actions":
            candidates.extend(block.get("elements") or [])
        if isinstance(block.get("accessory"), dict):
            candidates.append(block["accessory"])
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return str(block.get("block_id", "")), element
    raise NotFound(f"no element with action_id {action_id!r} in that message")


def action(block_id: str, element: JSON, action_ts: str) -> JSON:
    data: JSON = {"action_id": element["action_id"], "block_id": block_id,
                  "type": element.get("type", "button"), "action_ts": action_ts}
    for key in ("text", "value", "style", "url", "confirm"):
        if key in element:
            data[key] = element[key]
    return data


def block_actions(user: seed.User, channel: seed.Channel, clicked: Message | Ephemeral,
                  version: int | None, action_id: str, hooks: Hooks) -> JSON:
    """The `block_actions` payload for a click on `action_id` in version `version`."""
    if isinstance(clicked, Message):
        message = clicked.to_api(version)
        blocks = message["blocks"]
    else:
        message, blocks = None, clicked.blocks
    block_id, element = find_button(blocks, action_id)
    container: JSON = {"type": "message", "message_ts": clicked.ts, "channel_id": channel.id,
                       "is_ephemeral": message is None}
    if clicked.thread_ts:
        container["thread_ts"] = clicked.thread_ts
    payload: JSON = {
        "type": "block_actions",
        "user": {"id": user.id, "username": user.name, "name": user.name,
                 "team_id": seed.TEAM_ID},
        "api_app_id": seed.APP_ID, "token": seed.VERIFICATION_TOKEN, "container": container,
        "trigger_id": hooks.trigger_id, "team": {"id": seed.TEAM_ID, "domain": seed.TEAM_DOMAIN},
        "enterprise": None, "is_enterprise_install": False,
        "channel": {"id": channel.id, "name": channel.name},
        "state": {"values": {}}, "response_url": hooks.response_url,
        "actions": [action(block_id, element, hooks.action_ts)],
    }
    if message is not None:
        payload["message"] = message
    return payload

