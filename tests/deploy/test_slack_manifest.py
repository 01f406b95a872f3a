"""deploy/slack-app-manifest.yaml: the slash command and buttons the bot registers, Socket Mode,
and exactly the scopes of the Web API methods it calls. The methods come from a whole upgrade
through the simulated Slack (its record of every call), each mapped to the scope Slack's
method reference names; the scope list itself is bot/runtime/permissions.py's, which `doctor`
checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.runtime.permissions import SLACK_BOT_SCOPES
from handlers.commands import COMMAND
from tests.deploy.manifests import DEPLOY
from tests.e2e.slack_harness import running_bot

MANIFEST = DEPLOY / "slack-app-manifest.yaml"
# Web API method -> the bot token scope it needs (docs.slack.dev/reference/methods/...).
# None: no scope (auth.test), or the app-level token's connections:write (apps.connections.*).
METHOD_SCOPES: dict[str, str | None] = {
    "auth.test": None,
    "apps.connections.open": None,
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "usergroups.users.list": "usergroups:read",
    "usergroups.list": "usergroups:read",
    "conversations.info": "channels:read",  # groups:read for a private channel, below
    "conversations.history": "channels:history",  # groups:history for a private channel
    "users.info": "users:read",
    "reactions.add": "reactions:write",
}
# Granted beyond bot/runtime/permissions.py, with the reason: conversations.info and .history on a
# private channel need groups:read and groups:history, and clusters.yaml accepts private
# channels (G… ids).
PRIVATE_CHANNELS = {"groups:read", "groups:history"}


def _manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())
    return data


def test_the_app_has_the_command_buttons_and_socket_mode() -> None:
    manifest = _manifest()
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == [COMMAND]
    assert all("url" not in c for c in manifest["features"]["slash_commands"])  # Socket Mode
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"] == {"is_enabled": True}
    assert manifest["oauth_config"]["scopes"].keys() == {"bot"}  # no user token


def test_the_scopes_are_the_ones_doctor_checks() -> None:
    scopes = _manifest()["oauth_config"]["scopes"]["bot"]
    assert len(scopes) == len(set(scopes))
    assert set(scopes) == {s.name for s in SLACK_BOT_SCOPES} | PRIVATE_CHANNELS


def test_every_method_a_whole_upgrade_calls_is_covered_by_the_scopes(tmp_path: Path) -> None:
    with running_bot(tmp_path) as h:
        h.upgrade_to_completion()
        h.wait_card("Completed")
        called = {c["method"] for c in h.sim.slack.calls()}
    assert {"chat.postMessage", "chat.update", "usergroups.users.list",
            "files.completeUploadExternal"} <= called, "the run posted, approved and uploaded"
    unknown = sorted(called - METHOD_SCOPES.keys())
    assert unknown == [], "add these methods and their scopes to METHOD_SCOPES and the manifest"
    needed = {METHOD_SCOPES[m] for m in called} - {None}
    assert needed <= set(_manifest()["oauth_config"]["scopes"]["bot"])
