"""The state of the simulated workspace: channels, people, groups, messages, ephemerals, files.

Web API handlers (on the loop thread) and tests (on their own threads) both read and change it,
so every public method takes one lock and returns plain JSON-able copies, never live objects.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from meshsim.clock import SimClock
from meshsim.slack import seed

JSON = dict[str, Any]


@dataclass
class Version:
    """One look of a message: the original post is version 0, every chat.update adds one."""

    text: str
    blocks: list[JSON]
    at: str


@dataclass
class Message:
    channel: str
    ts: str
    user: str
    versions: list[Version]
    thread_ts: str | None = None
    files: list[JSON] = field(default_factory=list)
    reactions: dict[str, list[str]] = field(default_factory=dict)
    replies: list[str] = field(default_factory=list)
    metadata: JSON | None = None  # chat.postMessage `metadata`: {"event_type","event_payload"}

    @property
    def current(self) -> Version:
        return self.versions[-1]

    def to_api(self, version: int | None = None, metadata: bool = False) -> JSON:
        """The `message` object as the Web API and interaction payloads carry it; its
        metadata only when asked for (conversations.history's `include_all_metadata`)."""
        look = self.current if version is None else self.versions[version]
        data: JSON = {"type": "message", "user": self.user, "text": look.text,
                      "blocks": look.blocks, "ts": self.ts, "team": seed.TEAM_ID}
        if metadata and self.metadata is not None:
            data["metadata"] = dict(self.metadata)
        if self.user == seed.BOT_USER_ID:
            data.update(bot_id=seed.BOT_ID, app_id=seed.APP_ID)
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        if self.replies:
            data.update(thread_ts=self.ts, reply_count=len(self.replies))
        if len(self.versions) > 1 and (version is None or version > 0):
            data["edited"] = {"user": self.user, "ts": look.at}
        if self.files:
            data.update(files=self.files, upload=True)
        if self.reactions:
            data["reactions"] = [{"name": name, "users": users, "count": len(users)}
                                 for name, users in self.reactions.items()]
        return data


@dataclass
class Ephemeral:
    channel: str
    ts: str
    user: str  # the one person who sees it
    text: str
    blocks: list[JSON]
    thread_ts: str | None
    source: str  # "chat.postEphemeral", "response_url" or "ack"

    def to_api(self) -> JSON:
        data: JSON = {"type": "message", "subtype": "ephemeral", "channel": self.channel,
                      "ts": self.ts, "user": self.user, "text": self.text,
                      "blocks": self.blocks, "source": self.source}
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        return data


class WorkspaceError(Exception):
    """A Slack error code (`message_not_found`, ...) raised to the Web API layer."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Workspace:
    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.users = seed.seed_users()
        self.channels = seed.seed_channels()
        self.groups = seed.seed_groups()
        self._messages: dict[str, list[Message]] = {cid: [] for cid in self.channels}
        self._ephemerals: dict[str, list[Ephemeral]] = {cid: [] for cid in self.channels}
        self._last_us = 0
        self._file_ids = itertools.count(1)
        self.uploads: dict[str, JSON] = {}

    def next_ts(self) -> str:
        """Slack-style "seconds.micros" in Slack time, unique and increasing."""
        with self.lock:
            self._last_us = max(self._last_us + 1, int(self.clock.now() * 1_000_000))
            return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def channel(self, ref: str) -> seed.Channel | None:
        """A channel by id, or by name as chat.postMessage also accepts ("#mesh-ops")."""
        if ref in self.channels:
            return self.channels[ref]
        name = ref.lstrip("#")
        return next((c for c in self.channels.values() if c.name == name), None)

    def find(self, channel: str, ts: str) -> Message | None:
        with self.lock:
            for message in self._messages.get(channel, []):
                if message.ts == ts:
                    return message
            return None

    def post(self, channel: str, user: str, text: str, blocks: list[JSON],
             thread_ts: str | None = None, files: list[JSON] | None = None,
             metadata: JSON | None = None) -> Message:
        with self.lock:
            root = None
            if thread_ts:
                root = self._thread_root(channel, thread_ts)
            ts = self.next_ts()
            message = Message(channel, ts, user, [Version(text, blocks, ts)],
                              root.ts if root else None, list(files or []),
                              metadata=metadata)
            self._messages[channel].append(message)
            if root is not None:
                root.replies.append(ts)
            return message

    def _thread_root(self, channel: str, thread_ts: str) -> Message:
        parent = self.find(channel, thread_ts)
        if parent is None:
            raise WorkspaceError("thread_not_found")
        # A reply to a reply lands in the same thread, under its root (as in Slack).
        root = self.find(channel, parent.thread_ts) if parent.thread_ts else parent
        return root or parent

    def update(self, channel: str, ts: str, by: str, text: str | None,
               blocks: list[JSON] | None) -> Message:
        with self.lock:
            message = self._own(channel, ts, by, "cant_update_message")
            look = message.current
            message.versions.append(Version(look.text if text is None else text,
                                            look.blocks if blocks is None else blocks,
                                            self.next_ts()))
            return message

    def delete(self, channel: str, ts: str, by: str) -> None:
        with self.lock:
            message = self._own(channel, ts, by, "cant_delete_message")
            self._messages[channel].remove(message)
            root = self.find(channel, message.thread_ts) if message.thread_ts else None
            if root is not None:
                root.replies.remove(ts)

    def _own(self, channel: str, ts: str, by: str, refusal: str) -> Message:
        message = self.find(channel, ts)
        if message is None:
            raise WorkspaceError("message_not_found")
        if message.user != by:
            raise WorkspaceError(refusal)
        return message

    def history(self, channel: str, oldest: float, latest: float, before: str | None,
                limit: int, metadata: bool) -> tuple[list[JSON], str | None]:
        """Top-level messages, newest first, strictly older than `before` (the cursor) and
        within (`oldest`, `latest`]; with the `before` of the next page if there is one."""
        with self.lock:
            found = [m for m in reversed(self._messages.get(channel, []))
                     if not m.thread_ts and float(m.ts) > oldest
                     and float(m.ts) <= latest
                     and (before is None or float(m.ts) < float(before))]
            page = found[:limit]
            more = page[-1].ts if len(found) > limit else None
            return [m.to_api(metadata=metadata) for m in page], more

    def react(self, channel: str, ts: str, user: str, name: str) -> None:
        with self.lock:
            message = self.find(channel, ts)
            if message is None:
                raise WorkspaceError("message_not_found")
            users = message.reactions.setdefault(name, [])
            if user in users:
                raise WorkspaceError("already_reacted")
            users.append(user)

    def post_ephemeral(self, channel: str, user: str, text: str, blocks: list[JSON],
                       thread_ts: str | None, source: str) -> Ephemeral:
        with self.lock:
            ephemeral = Ephemeral(channel, self.next_ts(), user, text, blocks, thread_ts, source)
            self._ephemerals[channel].append(ephemeral)
            return ephemeral

    def find_ephemeral(self, channel: str, ts: str, user: str) -> Ephemeral | None:
        with self.lock:
            return next((e for e in self._ephemerals.get(channel, [])
                         if e.ts == ts and e.user == user), None)

    def drop_ephemeral(self, ephemeral: Ephemeral) -> None:
        with self.lock:
            self._ephemerals[ephemeral.channel].remove(ephemeral)

    def new_upload(self, filename: str, length: int) -> str:
        with self.lock:
            file_id = f"F0SIM{next(self._file_ids):05d}"
            self.uploads[file_id] = {"id": file_id, "name": filename, "length": length,
                                     "content": None}
            return file_id

    def snapshot(self, channel: str) -> JSON:
        """Everything in one channel, for `GET /_sim/messages` and `SlackSim.messages`."""
        with self.lock:
            messages = self._messages.get(channel, [])
            by_ts = {m.ts: m for m in messages}
            return {
                "channel": channel,
                "messages": [self._with_history(m, by_ts) for m in messages if not m.thread_ts],
                "ephemeral": [e.to_api() for e in self._ephemerals.get(channel, [])],
            }

    def _with_history(self, message: Message, by_ts: dict[str, Message]) -> JSON:
        data = message.to_api(metadata=True)
        data["history"] = [{"version": i, "text": v.text, "blocks": v.blocks, "at": v.at}
                           for i, v in enumerate(message.versions)]
        data["replies"] = [self._with_history(by_ts[ts], by_ts) for ts in message.replies
                           if ts in by_ts]
        return data

    def describe(self) -> JSON:
        """Users, groups, channels and tokens, for `GET /_sim/workspace`."""
        with self.lock:
            return {
                "team": {"id": seed.TEAM_ID, "domain": seed.TEAM_DOMAIN, "name": seed.TEAM_NAME},
                "app_id": seed.APP_ID,
                "bot": {"user_id": seed.BOT_USER_ID, "bot_id": seed.BOT_ID, "name": seed.BOT_NAME},
                "users": [u.to_api() for u in self.users.values()],
                "usergroups": [g.to_api(include_users=True) for g in self.groups.values()],
                "channels": [dict(c.to_api(seed.BOT_USER_ID), members=sorted(c.members))
                             for c in self.channels.values()],
                "tokens": seed.tokens(),
            }

    def set_group_users(self, group_id: str, users: list[str]) -> JSON:
        with self.lock:
            group = self.groups.get(group_id)
            if group is None:
                raise WorkspaceError("no_such_subteam")
            unknown = [u for u in users if u not in self.users]
            if unknown:
                raise WorkspaceError(f"user_not_found: {', '.join(unknown)}")
            group.users = list(users)
            return group.to_api(include_users=True)
