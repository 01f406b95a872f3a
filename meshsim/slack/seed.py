"""The fixed ids, names and secrets of the simulated workspace.

Tests, the sandbox and the docs name these strings directly (`C0MESHOPS`, `S0MESHAPPR`,
`xoxb-...`), so they never change between runs and nothing random goes into them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TEAM_ID = "T0MESH"
TEAM_DOMAIN = "mesh-sim"
TEAM_NAME = "Mesh Sim"
APP_ID = "A0MESHBOT"
BOT_USER_ID = "U0MESHBOT"
BOT_ID = "B0MESHBOT"
BOT_NAME = "meshbot"
BOT_TOKEN = "xoxb-0000000000-0000000000000-meshsimbottoken0000000"
APP_TOKEN = "xapp-1-A0MESHBOT-0000000000000-meshsimapptoken00000000"
SIGNING_SECRET = "meshsim0signing0secret00000000000"
VERIFICATION_TOKEN = "meshsimverificationtoken"  # the legacy `token` field of payloads
# What each token was granted, as Slack lists it in every response's `x-oauth-scopes` header.
BOT_SCOPES = ("commands", "chat:write", "files:write", "usergroups:read", "users:read",
              "channels:read", "groups:read", "channels:history", "groups:history",
              "reactions:write")
APP_SCOPES = ("connections:write",)

OPS_CHANNEL = "C0MESHOPS"
RANDOM_CHANNEL = "C0RANDOM"
APPROVERS_GROUP = "S0MESHAPPR"


@dataclass(frozen=True)
class User:
    id: str
    name: str
    real_name: str
    is_bot: bool = False

    def to_api(self) -> dict[str, object]:
        """The `user` object of users.info."""
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name,
            "real_name": self.real_name,
            "deleted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "tz": "Europe/Amsterdam",
            "profile": {"real_name": self.real_name, "display_name": self.name,
                        "bot_id": BOT_ID if self.is_bot else None},
        }


@dataclass
class Channel:
    id: str
    name: str
    members: set[str] = field(default_factory=set)

    def to_api(self, viewer: str) -> dict[str, object]:
        """The `channel` object of conversations.info, as seen by `viewer`."""
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": True,
            "is_private": False,
            "is_archived": False,
            "is_member": viewer in self.members,
            "context_team_id": TEAM_ID,
            "num_members": len(self.members),
        }


@dataclass
class UserGroup:
    id: str
    handle: str
    name: str
    users: list[str] = field(default_factory=list)

    def to_api(self, include_users: bool) -> dict[str, object]:
        """One entry of usergroups.list."""
        data: dict[str, object] = {
            "id": self.id,
            "team_id": TEAM_ID,
            "is_usergroup": True,
            "name": self.name,
            "handle": self.handle,
            "description": f"{self.name} (simulated)",
            "date_delete": 0,
            "user_count": len(self.users),
        }
        if include_users:
            data["users"] = list(self.users)
        return data


def seed_users() -> dict[str, User]:
    people = [
        User("U0ALICE", "alice", "Alice Operator"),
        User("U0BOB", "bob", "Bob Approver"),
        User("U0CAROL", "carol", "Carol Approver"),
        User("U0MALLORY", "mallory", "Mallory Intruder"),
        User(BOT_USER_ID, BOT_NAME, "Mesh Upgrade Bot", is_bot=True),
    ]
    return {user.id: user for user in people}


def seed_channels() -> dict[str, Channel]:
    humans = {"U0ALICE", "U0BOB", "U0CAROL", "U0MALLORY"}
    return {
        OPS_CHANNEL: Channel(OPS_CHANNEL, "mesh-ops", humans | {BOT_USER_ID}),
        RANDOM_CHANNEL: Channel(RANDOM_CHANNEL, "random", set(humans)),
    }


def seed_groups() -> dict[str, UserGroup]:
    group = UserGroup(APPROVERS_GROUP, "mesh-approvers", "Mesh approvers", ["U0BOB", "U0CAROL"])
    return {group.id: group}


def tokens() -> dict[str, str]:
    return {"bot": BOT_TOKEN, "app": APP_TOKEN, "signing_secret": SIGNING_SECRET,
            "verification_token": VERIFICATION_TOKEN}
