"""The records of a run as callers see them: the run, its phase history, approvals, audit
entries and where its card lives in Slack. Frozen values; the store (bot/store/) keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.upgrade.kinds import AuditKind
from bot.upgrade.phases import Action, Phase, RunKind, allowed_actions


@dataclass(frozen=True)
class NewRun:
    cluster: str
    kind: RunKind
    from_rev: str
    to_rev: str  # a patch run keeps the revision it restarts onto: from_rev == to_rev
    requested_by: str
    options: Mapping[str, Any] = field(default_factory=dict)
    plan: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    id: int
    cluster: str
    kind: RunKind
    from_rev: str
    to_rev: str
    phase: Phase
    requested_by: str
    options: Mapping[str, Any]
    plan: Mapping[str, Any]
    pause_reason: str | None
    pause_hint: str | None
    version: int
    created_at: datetime
    updated_at: datetime


    @property
    def paused(self) -> bool:
        """The run waits for a person (a note on the phase, not a phase of its own)."""
        return self.pause_reason is not None

    def actions(self) -> frozenset[Action]:
        """What a person may ask for now."""
        return allowed_actions(self.phase, self.kind, self.paused)

@dataclass(frozen=True)
class PhaseChange:
    run_id: int
    from_phase: Phase | None
    to_phase: Phase
    at: datetime
    by: str
    why: str


@dataclass(frozen=True)
class Approval:
    run_id: int
    action: str
    user_id: str
    at: datetime
    run_version: int


@dataclass(frozen=True)
class AuditEntry:
    id: int
    run_id: int | None
    cluster: str
    actor: str
    kind: AuditKind
    what: str
    at: datetime
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class SlackRef:
    run_id: int
    channel: str
    root_ts: str
    thread_ts: str | None


@dataclass(frozen=True)
class NewAuditEntry:
    """An audit entry to write together with a change of the run (one transaction)."""

    actor: str
    kind: AuditKind
    what: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Intent:
    """A command the bot acked and has not finished: kept until its work is done, so that a
    restart can tell the person what became of it."""

    id: int
    user_id: str
    text: str
    cluster: str | None
    response_url: str | None
    by: str  # the replica that acked it
    at: datetime
