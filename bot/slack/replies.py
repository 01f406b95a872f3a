"""One audit entry as a reply in its run's thread: what, by whom (a person or the bot), when,
whether it went wrong, and the command a person would have typed. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from bot.slack.blocks import StepStatus, StepView, escape
from bot.upgrade.kinds import COMMANDS, FAILURES
from bot.upgrade.records import AuditEntry


def step_of(entry: AuditEntry) -> StepView:
    """One audit entry as a thread reply: what, by whom (a person or the bot), when."""
    person = entry.actor if entry.actor.startswith(("U", "W")) else None
    status = StepStatus.FAILED if entry.kind in FAILURES else StepStatus.DONE
    return StepView(entry.what, status, _detail(entry.detail), person, entry.at,
                    _command(entry))


def _detail(detail: Any) -> str:
    if not isinstance(detail, dict):
        return ""
    shown = {k: v for k, v in detail.items() if k not in ("plan", "api_requests") and v}
    parts = [f"{k}: {_short(v)}" for k, v in list(shown.items())[:6]]
    return "\n".join(parts)


def _short(value: Any) -> str:
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return escape(text if len(text) <= 300 else text[:299] + "…")


def _command(entry: AuditEntry) -> str | None:
    return entry.what if entry.kind in COMMANDS else None

