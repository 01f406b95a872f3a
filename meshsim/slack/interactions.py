"""A person typing a slash command or clicking a button, turned into a delivery to the app.

Both the control API and `SlackSim.command/click` come through here. A command's immediate
answer (the ack payload, or the HTTP body) is shown the way Slack shows it: to the invoking
user only, unless it says `response_type: in_channel`.
"""

from __future__ import annotations

from typing import Any

from meshsim.slack import blockkit, payloads, seed
from meshsim.slack.delivery import Delivery
from meshsim.slack.payloads import Hooks, NotFound
from meshsim.slack.responses import Hook, ResponseUrls
from meshsim.slack.workspace import JSON, Ephemeral, Message, Workspace


class Interactions:
    def __init__(self, workspace: Workspace, responses: ResponseUrls, delivery: Delivery) -> None:
        self.ws = workspace
        self.responses = responses
        self.delivery = delivery

    def _who_where(self, user_id: str, channel_id: str) -> tuple[seed.User, seed.Channel]:
        user = self.ws.users.get(user_id)
        if user is None or user.is_bot:
            raise NotFound(f"no user {user_id!r}")
        channel = self.ws.channels.get(channel_id)
        if channel is None:
            raise NotFound(f"no channel {channel_id!r}")
        return user, channel

    async def command(self, origin: str, user_id: str, channel_id: str, command: str,
                      text: str) -> JSON:
        user, channel = self._who_where(user_id, channel_id)
        if not command.startswith("/"):
            raise ValueError(f"a command starts with '/': {command!r}")
        hook = Hook(channel.id, user.id, None, False, self.ws.clock.now())
        url = self.responses.issue(origin, "commands", hook)
        trigger = payloads.trigger_id(self.ws.clock.now())
        payload = payloads.command_payload(user, channel, command, text, url, trigger)
        outcome = await self.delivery.deliver("slash_commands", payload)
        if outcome["acked"]:
            self._show_reply(channel.id, user.id, outcome.get("response"))
        return {**outcome, "response_url": url, "trigger_id": trigger}

    async def click(self, origin: str, user_id: str, channel_id: str, ts: str, action_id: str,
                    edit: int | None = None) -> JSON:
        user, channel = self._who_where(user_id, channel_id)
        clicked = self._clicked(channel.id, ts, user.id, edit)
        hook = Hook(channel.id, user.id, ts, isinstance(clicked, Ephemeral), self.ws.clock.now())
        url = self.responses.issue(origin, "actions", hook)
        hooks = Hooks(url, payloads.trigger_id(self.ws.clock.now()), self.ws.next_ts())
        with self.ws.lock:
            payload = payloads.block_actions(user, channel, clicked, edit, action_id, hooks)
        outcome = await self.delivery.deliver("interactive", payload)
        return {**outcome, "response_url": url, "trigger_id": hooks.trigger_id,
                "payload": payload}

    def _clicked(self, channel: str, ts: str, user: str, edit: int | None) -> Message | Ephemeral:
        message = self.ws.find(channel, ts)
        if message is not None:
            if edit is not None and not 0 <= edit < len(message.versions):
                raise NotFound(f"message {ts} has versions 0..{len(message.versions) - 1}")
            return message
        ephemeral = self.ws.find_ephemeral(channel, ts, user)
        if ephemeral is None:
            raise NotFound(f"no message {ts} in {channel} that {user} can see")
        return ephemeral

    def _show_reply(self, channel: str, user: str, response: Any) -> None:
        if isinstance(response, str) and response.strip():
            response = {"text": response}
        if not isinstance(response, dict) or not (response.get("text") or response.get("blocks")):
            return
        text = str(response.get("text") or "")
        blocks = response.get("blocks") or []
        if blockkit.validate(blocks):
            text, blocks = f"(invalid_blocks in the command's reply) {text}", []
        blocks = blockkit.with_block_ids(blocks)
        if response.get("response_type") == "in_channel":
            self.ws.post(channel, seed.BOT_USER_ID, text, blocks)
        else:
            self.ws.post_ephemeral(channel, user, text, blocks, None, "ack")
