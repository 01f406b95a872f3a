"""Block Kit building blocks that respect Slack's limits, plus the small thread replies.

Everything here is pure: plain data in, `slack_sdk.models.blocks` out. Text is clipped with an
ellipsis before Slack would refuse it (3,000 per section, 150 per header, 50 blocks, and the
undocumented ~12k cumulative `msg_blocks_too_long`, bolt-js#2509). A report too big for one
message is trimmed with a note; callers check `fits_in_blocks` and upload `as_file` instead.
The run card is in blocks_card.py and the longer reports in blocks_reports.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.slack.command_text import Verb, help_lines, usage

MAX_BLOCKS = 50
SECTION_CHARS = 3_000
FIELD_CHARS = 2_000
MAX_FIELDS = 10
HEADER_CHARS = 150
CONTEXT_ELEMENTS = 10
# Slack refuses messages whose block text adds up to about 12-13k characters
# (msg_blocks_too_long, bolt-js#2509); stay well below it.
TEXT_BUDGET = 10_000
ELLIPSIS = "…"
_LINE = 1_000  # one line of a report is never longer than this
_CHUNK = SECTION_CHARS - 100  # room for a closing code fence and the heading


def escape(text: str) -> str:
    """Data shown in mrkdwn (names from the cluster, user text): no links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, ending in an ellipsis when cut; never cuts inside a Slack
    entity (`<@U1>`, `&amp;`) and closes a code block that the cut left open."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 5, 0)]
    cut = re.sub(r"<[^>]*$|&[a-z]{0,4}$", "", cut)
    fence = "\n```" if cut.count("```") % 2 else ""
    return (cut + ELLIPSIS + fence)[:limit]


def slack_date(at: datetime) -> str:
    """A time every reader sees in their own zone; the UTC fallback where Slack cannot."""
    return (f"<!date^{int(at.timestamp())}^{{date_short_pretty}} at {{time}}|"
            f"{plain_date(at)}>")


def plain_date(at: datetime) -> str:
    """For plain text (headers, notifications, files): Slack formats no dates there."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def when(at: datetime) -> str:
    """A time in mrkdwn: each reader sees it in their own zone (Slack's date formatting)."""
    return slack_date(at)


def counts_text(counts: Mapping[str, int], most: int = 12) -> str:
    """`asm-1-23: 120 · no sidecar: 4 · 3 others: 9`, biggest first ("" is no sidecar)."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = [f"{escape(k) or 'no sidecar'}: {v}" for k, v in ordered[:most]]
    rest = sum(v for _, v in ordered[most:])
    more = [f"{len(ordered) - most} others: {rest}"] if len(ordered) > most else []
    return " · ".join(shown + more)


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=PlainTextObject(text=clip(text, HEADER_CHARS) or " ", emoji=True))


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_CHARS) or " "))


def fields_section(fields: Sequence[str], text: str | None = None) -> SectionBlock:
    shown = [MarkdownTextObject(text=clip(f, FIELD_CHARS) or " ") for f in fields[:MAX_FIELDS]]
    body = None if text is None else MarkdownTextObject(text=clip(text, SECTION_CHARS))
    return SectionBlock(text=body, fields=shown)


def context(*texts: str) -> ContextBlock:
    elements = [MarkdownTextObject(text=clip(t, SECTION_CHARS) or " ")
                for t in texts[:CONTEXT_ELEMENTS]]
    return ContextBlock(elements=elements)


def to_dicts(blocks: Iterable[Block]) -> list[dict[str, Any]]:
    """The JSON Slack receives (WebClient does this itself when given Block objects)."""
    return [b.to_dict() for b in blocks]


def block_text_size(block: Block) -> int:
    return _text_size(block.to_dict())


_TEXT_KEYS = frozenset({"text", "value", "alt_text"})


def _text_size(node: Any) -> int:
    if isinstance(node, str):
        return len(node)
    if isinstance(node, dict):
        return sum(_text_size(v) for k, v in node.items() if k in _TEXT_KEYS or
                   not isinstance(v, str))
    if isinstance(node, list):
        return sum(_text_size(v) for v in node)
    return 0


def fit_message(blocks: list[Block], keep_last: int = 0) -> list[Block]:
    """Drop blocks from the end of the body (the last `keep_last` stay) until the message is
    within 50 blocks and the text budget, and say how many were left out."""
    body, tail = (blocks[:-keep_last], blocks[-keep_last:]) if keep_last else (blocks, [])
    budget = TEXT_BUDGET - sum(block_text_size(b) for b in tail) - 200
    kept: list[Block] = []
    for block in body:
        size = block_text_size(block)
        if len(kept) + len(tail) >= MAX_BLOCKS - 1 or size > budget:
            break
        kept.append(block)
        budget -= size
    dropped = len(body) - len(kept)
    note = [context(f"{ELLIPSIS} {dropped} more part(s) not shown: too long for one message.")]
    return kept + (note if dropped else []) + tail


# --- text reports: one shape for everything posted in a thread ------------------------------


@dataclass(frozen=True)
class ReportSection:
    """A heading with lines of mrkdwn, and optional side-by-side `fields` (max 10)."""

    heading: str
    lines: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Report:
    """A thread reply as text: rendered to blocks, or uploaded whole with `as_file`."""

    title: str
    summary: str = ""
    sections: tuple[ReportSection, ...] = ()
    cluster: str = ""

    @property
    def text(self) -> str:
        parts = [self.title, self.summary]
        for s in self.sections:
            parts += [f"\n*{s.heading}*", *s.fields, *s.lines]
        return "\n".join(p for p in parts if p)


def fits_in_blocks(text: str) -> bool:
    """True when `text` shows whole in one message; otherwise upload it with `as_file`."""
    return len(text) <= TEXT_BUDGET - 500 and len(_chunks(text.splitlines())) <= MAX_BLOCKS - 5


def as_file(report: Report) -> tuple[str, str]:
    """(filename, content) for files_upload_v2 when a report is too long for blocks."""
    slug = re.sub(r"[^a-z0-9]+", "-", f"{report.cluster} {report.title}".lower()).strip("-")
    return f"mesh-upgrade-{slug[:80] or 'report'}.txt", report.text + "\n"


def render_report(report: Report) -> list[Block]:
    blocks: list[Block] = [header(report.title)]
    if report.summary:
        blocks.append(section(report.summary))
    budget = TEXT_BUDGET - len(report.title) - len(report.summary) - 300
    for part in report.sections:
        new = _section_blocks(part, max(budget, 0))
        budget -= sum(block_text_size(b) for b in new)
        blocks += new
    return fit_message(blocks)


def _section_blocks(part: ReportSection, budget: int) -> list[Block]:
    heading = f"*{escape(part.heading)}*"
    blocks: list[Block] = []
    if part.fields:
        blocks.append(fields_section(part.fields, heading))
        budget -= block_text_size(blocks[0])
    lines = _within(part.lines, budget - len(heading))
    if lines or not part.fields:
        chunks = _chunks([heading, *lines] if not part.fields else lines)
        blocks += [section(c) for c in chunks]
    return blocks


def _within(lines: Sequence[str], budget: int) -> list[str]:
    kept: list[str] = []
    for line in lines:
        line = clip(line, _LINE)
        if len(line) + 1 > budget - 60:
            kept.append(f"{ELLIPSIS} and {len(lines) - len(kept)} more (see the full report file)")
            break
        kept.append(line)
        budget -= len(line) + 1
    return kept


def _chunks(lines: Sequence[str]) -> list[str]:
    """Lines joined into pieces of at most one section each, cut only between lines."""
    chunks: list[str] = []
    current = ""
    for line in (clip(x, _CHUNK) for x in lines):
        if current and len(current) + len(line) + 1 > _CHUNK:
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    return [*chunks, current] if current else chunks


# --- small thread replies ------------------------------------------------------------------


class StepStatus(StrEnum):
    DONE = "done"
    RUNNING = "running"
    WAITING = "waiting"
    SKIPPED = "skipped"
    FAILED = "failed"


_STEP_EMOJI = {StepStatus.DONE: ":white_check_mark:", StepStatus.RUNNING: ":hourglass:",
               StepStatus.WAITING: ":double_vertical_bar:", StepStatus.SKIPPED: ":fast_forward:",
               StepStatus.FAILED: ":x:"}


@dataclass(frozen=True)
class StepView:
    """One step of a run, for the thread: what happened, who caused it, the equivalent
    command a person would have typed (for the audit trail), and when."""

    title: str
    status: StepStatus = StepStatus.DONE
    detail: str = ""
    by: str | None = None  # Slack user id, or None for the bot itself
    at: datetime | None = None
    command: str | None = None  # e.g. "az aks mesh upgrade start -g rg -n prod --revision asm-1-23"


def render_step(step: StepView) -> list[Block]:
    text = f"{_STEP_EMOJI[step.status]} *{escape(step.title)}*"
    if step.detail:
        text += f"\n{step.detail}"
    if step.command:
        text += f"\n```{clip(step.command.replace('```', ''), 1_500)}```"
    notes = [f"by <@{step.by}>" if step.by else "by the bot"]
    if step.at is not None:
        notes.append(when(step.at))
    return [section(text), context(" · ".join(notes))]


def render_help(topic: Verb | None = None) -> list[Block]:
    if topic is not None:
        summary = dict(help_lines())[usage(topic)]
        return [section(f"{usage(topic)}\n{summary}")]
    lines = [f"{u} {s}" for u, s in help_lines()]
    flow = ("An upgrade goes: `plan` → `start` (approval) → *Roll out* (approval) → "
            "checks in the thread → *Complete* or *Roll back* (approval). "
            "Buttons on the run's card do the approvals.")
    return [header("/mesh-upgrade"), section("\n".join(lines)), context(flow)]
