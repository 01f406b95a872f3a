"""The Web API methods the bot uses: chat.*, conversations.*, users.info, usergroups.*, ...
(views.publish, the App Home, is in meshsim.slack.homes.)

Each answers the fields slack_sdk callers read and fails with Slack's own codes:
`channel_not_found`, `not_in_channel` (the bot is not a member), `invalid_blocks` with an
`errors` list, `message_not_found`, `cant_update_message`, `no_such_subteam`, `user_not_found`.
A message keeps chat.postMessage's `metadata`; conversations.history returns it only with
`include_all_metadata` (as Slack does), newest first, paged by `cursor`.
"""

from __future__ import annotations

import re
from typing import Any

from meshsim.slack import blockkit, seed
from meshsim.slack.webapi import JSON, ApiCall, ApiError, WebApi
from meshsim.slack.workspace import Workspace, WorkspaceError

_EVENT_TYPE = re.compile(r"[a-z0-9_]{1,255}")  # Slack: alphanumeric and underscores
_TS = re.compile(r"[0-9]{1,12}\.[0-9]{6}")


def message_content(call: ApiCall, required: bool) -> tuple[str | None, list[JSON] | None]:
    """`text` and validated `blocks` of a message call; `no_text` if neither and `required`."""
    text = call.get("text")
    blocks = call.json_field("blocks", "invalid_blocks_format") if "blocks" in call.params else None
    if required and not text and not blocks:
        raise ApiError("no_text")
    if blocks is None:
        return text, None
    check_blocks(blocks)
    return text, blockkit.with_block_ids(blocks)


def check_blocks(blocks: Any) -> None:
    errors = blockkit.validate(blocks)
    if errors:
        raise ApiError("invalid_blocks", errors=errors,
                       response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})


def message_metadata(call: ApiCall) -> JSON | None:
    """chat.postMessage `metadata`: an `event_type` name and an `event_payload` object."""
    if "metadata" not in call.params:
        return None
    value = call.json_field("metadata", "invalid_metadata_format")
    if not isinstance(value, dict) or set(value) - {"event_type", "event_payload"}:
        raise ApiError("invalid_metadata_format")
    kind, payload = value.get("event_type"), value.get("event_payload")
    if not isinstance(kind, str) or not _EVENT_TYPE.fullmatch(kind) or \
            not isinstance(payload, dict):
        raise ApiError("invalid_metadata_schema")
    return {"event_type": kind, "event_payload": payload}


class ChatMethods:
    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    def register(self, api: WebApi) -> None:
        for name, method, token in (
            ("auth.test", self.auth_test, "any"),
            ("chat.postMessage", self.post_message, "bot"),
            ("chat.update", self.update, "bot"),
            ("chat.postEphemeral", self.post_ephemeral, "bot"),
            ("chat.delete", self.delete, "bot"),
            ("chat.getPermalink", self.permalink, "bot"),
            ("conversations.info", self.conversation_info, "bot"),
            ("conversations.history", self.conversation_history, "bot"),
            ("users.info", self.user_info, "bot"),
            ("usergroups.list", self.usergroups, "bot"),
            ("usergroups.users.list", self.usergroup_users, "bot"),
            ("reactions.add", self.react, "bot"),
        ):
            api.register(name, method, token)

    def channel(self, call: ApiCall, key: str = "channel") -> seed.Channel:
        """The channel named in `call`, refusing one the bot cannot post to."""
        found = self.ws.channel(call.need(key))
        if found is None:
            raise ApiError("channel_not_found")
        if seed.BOT_USER_ID not in found.members:
            raise ApiError("not_in_channel")
        return found

    async def auth_test(self, call: ApiCall) -> JSON:
        return {"url": f"https://{seed.TEAM_DOMAIN}.slack.com/", "team": seed.TEAM_NAME,
                "user": seed.BOT_NAME, "team_id": seed.TEAM_ID, "user_id": seed.BOT_USER_ID,
                "bot_id": seed.BOT_ID, "app_id": seed.APP_ID, "is_enterprise_install": False}

    async def post_message(self, call: ApiCall) -> JSON:
        channel = self.channel(call)
        text, blocks = message_content(call, required=True)
        metadata = message_metadata(call)
        try:
            with self.ws.lock:
                message = self.ws.post(channel.id, seed.BOT_USER_ID, text or "", blocks or [],
                                       call.get("thread_ts"), metadata=metadata)
                return {"channel": channel.id, "ts": message.ts,
                        "message": message.to_api(metadata=True)}
        except WorkspaceError as exc:
            raise ApiError(exc.code) from exc

    async def update(self, call: ApiCall) -> JSON:
        channel = self.channel(call)
        text, blocks = message_content(call, required=False)
        try:
            with self.ws.lock:
                message = self.ws.update(channel.id, call.need("ts"), seed.BOT_USER_ID,
                                         text, blocks)
                return {"channel": channel.id, "ts": message.ts, "text": message.current.text,
                        "message": message.to_api()}
        except WorkspaceError as exc:
            raise ApiError(exc.code) from exc

    async def post_ephemeral(self, call: ApiCall) -> JSON:
        channel = self.channel(call)
        user = call.need("user")
        if user not in self.ws.users:
            raise ApiError("user_not_found")
        if user not in channel.members:
            raise ApiError("user_not_in_channel")
        text, blocks = message_content(call, required=True)
        ephemeral = self.ws.post_ephemeral(channel.id, user, text or "", blocks or [],
                                           call.get("thread_ts"), "chat.postEphemeral")
        return {"message_ts": ephemeral.ts}

    async def delete(self, call: ApiCall) -> JSON:
        channel = self.channel(call)
        ts = call.need("ts")
        try:
            self.ws.delete(channel.id, ts, seed.BOT_USER_ID)
        except WorkspaceError as exc:
            raise ApiError(exc.code) from exc
        return {"channel": channel.id, "ts": ts}

    async def permalink(self, call: ApiCall) -> JSON:
        """`https://<domain>.slack.com/archives/<channel>/p<ts without the dot>`, as Slack's."""
        found = self.ws.channel(call.need("channel"))
        if found is None:
            raise ApiError("channel_not_found")
        ts = call.need("message_ts")
        if self.ws.find(found.id, ts) is None:
            raise ApiError("message_not_found")
        return {"channel": found.id, "permalink":
                f"https://{seed.TEAM_DOMAIN}.slack.com/archives/{found.id}/p{ts.replace('.', '')}"}

    async def conversation_info(self, call: ApiCall) -> JSON:
        found = self.ws.channel(call.need("channel"))
        if found is None:
            raise ApiError("channel_not_found")
        return {"channel": found.to_api(seed.BOT_USER_ID)}

    async def conversation_history(self, call: ApiCall) -> JSON:
        """Newest first, `limit` (default 100, at most 999) per page, `cursor` for the next."""
        channel = self.channel(call)
        try:
            limit = min(max(int(call.get("limit") or 100), 1), 999)
            oldest = float(call.get("oldest") or 0)
            latest = float(call.get("latest") or "inf")
        except ValueError as exc:
            raise ApiError("invalid_arguments") from exc
        before = call.get("cursor") or None
        if before is not None and not _TS.fullmatch(before):
            raise ApiError("invalid_cursor")
        messages, more = self.ws.history(channel.id, oldest, latest, before, limit,
                                         call.flag("include_all_metadata"))
        return {"messages": messages, "has_more": more is not None,
                "response_metadata": {"next_cursor": more or ""}}

    async def user_info(self, call: ApiCall) -> JSON:
        user = self.ws.users.get(call.need("user"))
        if user is None:
            raise ApiError("user_not_found")
        return {"user": user.to_api()}

    async def usergroups(self, call: ApiCall) -> JSON:
        with self.ws.lock:
            groups = [g.to_api(call.flag("include_users")) for g in self.ws.groups.values()]
        return {"usergroups": groups}

    async def usergroup_users(self, call: ApiCall) -> JSON:
        with self.ws.lock:
            group = self.ws.groups.get(call.need("usergroup"))
            if group is None:
                raise ApiError("no_such_subteam")
            return {"users": list(group.users)}

    async def react(self, call: ApiCall) -> JSON:
        channel = self.channel(call)
        try:
            self.ws.react(channel.id, call.need("timestamp"), seed.BOT_USER_ID,
                          call.need("name"))
        except WorkspaceError as exc:
            raise ApiError(exc.code) from exc
        return {}
