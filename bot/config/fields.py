"""The building blocks of the configuration's schema: durations people write ("90s", "1h30m"),
Slack IDs checked as they are typed, the frozen model every section is made of, and an
approval policy (a cluster's actions, a fleet's promotions)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from bot.upgrade.approvals import ApprovalPolicy

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def _duration(value: Any) -> Any:
    """Accept "90s", "5m", "1h30m", "2d" beside what pydantic takes (seconds, ISO 8601)."""
    match = _DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None or not any(match.groups()):
        return value
    d, h, m, s = (int(g or 0) for g in match.groups())
    return timedelta(days=d, hours=h, minutes=m, seconds=s)


def _slack_id(first: str, what: str, example: str) -> tuple[AfterValidator, WithJsonSchema]:
    """Approvers and channels are matched by ID; a #name or @name would never match. The JSON
    Schema carries the same pattern, so an editor flags a name as it is typed."""
    pattern = f"[{first}][A-Z0-9]{{2,}}"
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"expected a Slack {what} ID like {example}, not a name")
        return value

    schema = {"type": "string", "pattern": f"^{pattern}$",
              "description": f"a Slack {what} ID like {example} (not a name)"}
    return AfterValidator(check), WithJsonSchema(schema)


_USER_ID, _USER_SCHEMA = _slack_id("UW", "user", "U0123ABCD")
_GROUP_ID, _GROUP_SCHEMA = _slack_id("S", "user group", "S0123ABCD")
_CHANNEL_ID, _CHANNEL_SCHEMA = _slack_id("CGD", "channel", "C0123ABCD")
# pydantic would describe a timedelta as an ISO 8601 string ("format": "duration"), which
# would make editors flag the "90s" and "1h30m" that _duration accepts.
_DURATION_SCHEMA = WithJsonSchema({"type": ["string", "number"], "examples": ["90s", "30m",
                                                                              "1h30m", "2d"],
                                   "description": "a duration: 90s, 5m, 1h30m, 2d, seconds, "
                                                  "or ISO 8601 (PT5M)"})
Duration = Annotated[timedelta, BeforeValidator(_duration), _DURATION_SCHEMA]
UserId = Annotated[str, _USER_ID, _USER_SCHEMA]
GroupId = Annotated[str, _GROUP_ID, _GROUP_SCHEMA]
ChannelId = Annotated[str, _CHANNEL_ID, _CHANNEL_SCHEMA]


class ConfigModel(BaseModel):
    """Every section of the file: frozen once read, and an unknown key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ApprovalConfig(ConfigModel):
    groups: tuple[GroupId, ...] = ()
    users: tuple[UserId, ...] = ()
    required: int = Field(default=1, ge=1)
    expires_after: Duration = timedelta(hours=24)
    remind_before: Duration = timedelta(hours=2)

    @model_validator(mode="after")
    def _someone_can_approve(self) -> ApprovalConfig:
        if not self.groups and not self.users:
            raise ValueError("name at least one approver group or user")
        if not self.groups and self.required > len(self.users):
            raise ValueError(f"required is {self.required} but only {len(self.users)} users")
        if self.remind_before >= self.expires_after:
            raise ValueError("remind_before must be shorter than expires_after")
        return self

    def policy(self) -> ApprovalPolicy:
        return ApprovalPolicy(self.groups, self.users, self.required, self.expires_after,
                              self.remind_before)
