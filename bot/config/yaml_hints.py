"""Slack names that YAML loses, told as what to do instead.

People paste names from Slack: `channel: #mesh-ops` is a YAML comment, so channel is null;
`- @alice` is a parse error, since `@` is reserved and cannot start a plain scalar (YAML 1.1
§4.3, PyYAML: "found character '@' that cannot start any token"). Quoting would not help:
the bot matches channels, user groups and users by ID, so the hint names the ID to use. The
raw line is read for the name, since the parsed data no longer has it.
"""

from __future__ import annotations

import re

# `#name` right after `key:`, a list dash, `[` or `,`: where a value would start.
_COMMENTED = re.compile(r"(?:[:-]\s+|[\[,]\s*)#(?P<name>[A-Za-z0-9][\w.-]*)")
# `[#name` or `, #name`: the comment hides the flow list's end, and the parser fails later.
_FLOW_COMMENTED = re.compile(r"[\[,]\s*#(?P<name>[A-Za-z0-9][\w.-]*)")
_AT_NAME = re.compile(r"@[A-Za-z0-9][\w.-]*")
_IDS = {"channel": "the channel ID (C0…, at the bottom of the channel's About tab in Slack)",
        "groups": "the user group ID (S0…, the end of the group's URL in Slack)",
        "users": "the member ID (U0…, in Slack: the profile's ⋮ menu > Copy member ID)"}
_MATCHED = {"channel": "channels", "groups": "user groups", "users": "approvers"}


def commented_name(line: str) -> str | None:
    """The `#name` on this line that YAML took for a comment where a value would start."""
    found = _COMMENTED.search(line)
    return f"#{found['name']}" if found else None


def lost_to_comment(key: str, name: str) -> str:
    """What to say of a null value whose line shows `name` (`#mesh-ops`) after `key`."""
    message = f"is empty: it looks like `{name}` was read as a YAML comment"
    if key in _IDS:
        return (f"{message}; use {_IDS[key]} instead: a quoted name is refused too, as "
                f"{_MATCHED[key]} are matched by ID")
    return f"{message}; quote the value (\"{name}\")"


def yaml_error_hint(text: str, line: int, column: int) -> str:
    """A hint for a YAML parse error at `line`/`column` (0-based), or "" when there is none:
    an unquoted `@name` at the error, or the last `[#name` before it, a comment that hid the
    end of a flow list (the parser fails further down, often at the end of the file)."""
    lines = text.splitlines()
    here = lines[line] if line < len(lines) else ""
    at = _AT_NAME.match(here, column)
    if at:
        return (f"`{at[0]}` cannot start an unquoted YAML value (@ is reserved): for an "
                f"approver use {_IDS['users']}; a quoted @name is refused too, as approvers "
                "are matched by ID")
    for number in range(min(line, len(lines) - 1), -1, -1):
        found = _FLOW_COMMENTED.search(lines[number])
        if found:
            return (f"`#{found['name']}` on line {number + 1} was read as a YAML comment, "
                    "which hid the rest of that line: use the Slack ID (C0… for a channel, "
                    "S0… for a user group, U0… for a user) instead of the name")
    return ""
