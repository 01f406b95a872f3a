"""The Web API methods the bot uses: chat.*, conversations.info, users.info, usergroups.*, ...

Each answers the fields slack_sdk callers read and fails with Slack's own codes:
`channel_not_found`, `not_in_channel` (the bot is not a member), `invalid_blocks` with an
`errors` list, `message_not_found`, `cant_update_message`, `no_such_subteam`, `user_not_found`.
"""

from __future__ import annotations

from typing import Any

from meshsim.slack import blockkit, seed
from meshsim.slack.webapi import JSON, ApiCall, ApiError, WebApi
from meshsim.slack.workspace import Workspace, WorkspaceError


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
            ("conversations.info", self.conversation_info, "bot"),
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
        try:
            with self.ws.lock:
                message = self.ws.post(channel.id, seed.BOT_USER_ID, text or "", blocks or [],
                                       call.get("thread_ts"))
                return {"channel": channel.id, "ts": message.ts, "message": message.to_api()}
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

    async def conversation_info(self, call: ApiCall) -> JSON:
        found = self.ws.channel(call.need("channel"))
        if found is None:
            raise ApiError("channel_not_found")
        return {"channel": found.to_api(seed.BOT_USER_ID)}

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
