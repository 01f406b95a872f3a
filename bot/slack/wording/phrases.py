"""The small words every reply is made of: the subject of a run, a reply (a sentence and its
context lines), durations, people, counts, workloads, and free text made safe for mrkdwn."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.upgrade.phases import RunKind
from bot.upgrade.records import AuditEntry, Run


@dataclass(frozen=True)
class Subject:
    """What the words need to know of the run the entry belongs to."""

    cluster: str
    from_rev: str
    to_rev: str
    kind: RunKind = RunKind.MINOR

    @classmethod
    def of(cls, run: Run) -> Subject:
        return cls(run.cluster, run.from_rev, run.to_rev, run.kind)


@dataclass(frozen=True)
class Said:
    """A reply: one or two sentences (mrkdwn), and the lines of its context block."""

    sentence: str
    details: tuple[str, ...] = ()

    @property
    def notification(self) -> str:
        """The sentence for notifications and screen readers: no emoji codes or markup."""
        text = re.sub(r":[a-z0-9_+-]+: ?", "", self.sentence).replace("*", "").replace("`", "")
        return text.strip()[:300]


def duration(seconds: float) -> str:
    """`12 s`, `30 min`, `2 h 5 min`, `3 d 4 h`."""
    s = max(round(seconds), 0)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min" + (f" {s % 60} s" if s % 60 and s < 600 else "")
    if s < 86_400:
        return f"{s // 3600} h" + (f" {s % 3600 // 60} min" if s % 3600 // 60 else "")
    return f"{s // 86_400} d" + (f" {s % 86_400 // 3600} h" if s % 86_400 // 3600 else "")


def code(text: Any) -> str:
    tick = "`"
    return tick + human(str(text).replace(tick, "'")) + tick


def person(actor: str) -> str:
    """`<@U0BOB>` for a Slack user; "The bot" otherwise (the bot, the scheduler)."""
    return f"<@{actor}>" if re.fullmatch(r"[UW][A-Z0-9]+", actor or "") else "The bot"


def people(ids: Sequence[str]) -> str:
    names = [person(i) for i in ids]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def count(n: int, unit: str, plural: str | None = None) -> str:
    return f"{n} {unit if n == 1 else plural or unit + 's'}"


def workload(ref: str) -> str:
    """`deployment/payments/payments-api` as `payments-api` in `payments`."""
    parts = str(ref).split("/")
    if len(parts) == 3:
        return f"{code(parts[2])} in {code(parts[1])}"
    return code(ref)


def workloads(refs: Sequence[str], most: int = 8) -> str:
    shown = ", ".join(workload(r) for r in refs[:most])
    return shown + (f" and {len(refs) - most} more" if len(refs) > most else "")


def human(text: Any) -> str:
    """Free text from an error or a person: shown as is, but never a link or a mention."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def detail_of(entry: AuditEntry) -> Mapping[str, Any]:
    return entry.detail if isinstance(entry.detail, Mapping) else {}
