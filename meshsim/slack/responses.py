"""`response_url`: the per-interaction webhook Bolt's `respond()` posts to.

Slack allows each URL "up to 5 times within 30 minutes" (docs.slack.dev, handling user
interaction), counted in Slack time; after that it answers 404 `used_url` / `expired_url`.
A body may say `response_type` (ephemeral by default, or in_channel), `replace_original`
or `delete_original`; replacing or deleting acts on the message that held the button.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from meshsim.slack import blockkit, seed
from meshsim.slack.workspace import JSON, Ephemeral, Workspace, WorkspaceError

MAX_USES = 5
LIFETIME = 30 * 60.0
PATH = "/hooks/{kind}/{team}/{hook_id}/{secret}"


@dataclass
class Hook:
    channel: str
    user: str
    original_ts: str | None  # the message with the clicked button; None for a command
    ephemeral: bool
    created: float
    uses: int = 0


class ResponseUrls:
    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self._hooks: dict[str, Hook] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_post(PATH, self.handle)

    def issue(self, origin: str, kind: str, hook: Hook) -> str:
        """A fresh URL; `kind` is "commands" or "actions" as in Slack's own URLs."""
        hook_id, secret = secrets.token_hex(6), secrets.token_hex(12)
        self._hooks[f"{hook_id}/{secret}"] = hook
        return origin + PATH.format(kind=kind, team=seed.TEAM_ID, hook_id=hook_id, secret=secret)

    async def handle(self, request: web.Request) -> web.Response:
        key = f"{request.match_info['hook_id']}/{request.match_info['secret']}"
        hook = self._hooks.get(key)
        refusal = self._refusal(hook)
        if hook is None or refusal:
            return _error(404, refusal or "no_service")
        body = await _body(request)
        if body is None:
            return _error(400, "invalid_payload")
        blocks = body.get("blocks")
        errors = blockkit.validate(blocks) if blocks is not None else []
        if errors:
            return _error(400, "invalid_blocks", errors=errors)
        hook.uses += 1
        self._apply(hook, body)
        return web.json_response({"ok": True})

    def _refusal(self, hook: Hook | None) -> str | None:
        if hook is None:
            return "no_service"
        if self.ws.clock.now() - hook.created > LIFETIME:
            return "expired_url"
        if hook.uses >= MAX_USES:
            return "used_url"
        return None

    def _apply(self, hook: Hook, body: JSON) -> None:
        text = str(body.get("text") or "")
        blocks = blockkit.with_block_ids(list(body.get("blocks") or []))
        with self.ws.lock:
            if hook.original_ts and (body.get("delete_original") or body.get("replace_original")):
                self._change_original(hook, body, text, blocks)
            elif body.get("response_type") == "in_channel":
                self.ws.post(hook.channel, seed.BOT_USER_ID, text, blocks, body.get("thread_ts"))
            else:
                self.ws.post_ephemeral(hook.channel, hook.user, text, blocks,
                                       body.get("thread_ts"), "response_url")

    def _change_original(self, hook: Hook, body: JSON, text: str, blocks: list[JSON]) -> None:
        assert hook.original_ts is not None
        if hook.ephemeral:
            found = self.ws.find_ephemeral(hook.channel, hook.original_ts, hook.user)
            if found is not None:
                _change_ephemeral(self.ws, found, body, text, blocks)
            return
        original = self.ws.find(hook.channel, hook.original_ts)
        if original is None:
            return
        try:
            if body.get("delete_original"):
                self.ws.delete(hook.channel, original.ts, original.user)
            else:
                self.ws.update(hook.channel, original.ts, original.user, text, blocks)
        except WorkspaceError:  # deleted meanwhile: Slack answers ok and does nothing
            pass


def _change_ephemeral(ws: Workspace, found: Ephemeral, body: JSON, text: str,
                      blocks: list[JSON]) -> None:
    if body.get("delete_original"):
        ws.drop_ephemeral(found)
    else:
        found.text, found.blocks, found.source = text, blocks, "response_url"


async def _body(request: web.Request) -> JSON | None:
    raw = await request.text()
    if request.content_type == "application/x-www-form-urlencoded":
        raw = str((await request.post()).get("payload") or "")
    try:
        data: Any = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _error(status: int, code: str, **extra: Any) -> web.Response:
    return web.json_response({"ok": False, "error": code, **extra}, status=status)
