"""The App Home tab: one person's view of every cluster, run and approval, as Block Kit.

Pure: `render_home(view)` turns a `HomeView` (built by bot/runtime/home_tabs.py from the store
and the last census the bot has) into the `view` object views.publish takes. A home view holds
at most 100 blocks (Block Kit reference, "Blocks": surfaces' limits), so lists are capped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import Block, DividerBlock

from bot.slack.blocks import context, counts_text, escape, header, section, to_dicts, when
from bot.slack.buttons import phase_emoji, phase_label
from bot.upgrade.phases import Action, Phase

HOME_BLOCKS = 100
CLUSTERS_SHOWN = 20
RUNS_SHOWN = 10
RECENT_SHOWN = 5


@dataclass(frozen=True)
class ClusterLine:
    """A cluster as last seen: revisions, proxy versions by pod count, offered upgrades."""

    name: str
    channel: str
    revisions: tuple[str, ...] = ()
    proxy_versions: Mapping[str, int] = field(default_factory=dict)
    upgrades: tuple[str, ...] = ()
    seen_at: datetime | None = None  # when these facts were read; None: never


@dataclass(frozen=True)
class RunLine:
    run_id: int
    cluster: str
    from_rev: str
    to_rev: str
    phase: Phase
    requested_by: str
    updated_at: datetime
    link: str | None = None  # the card's permalink


@dataclass(frozen=True)
class WaitingLine:
    """An action of a run waiting for approvals that this person may give."""

    run: RunLine
    action: Action
    have: int
    need: int


@dataclass(frozen=True)
class HomeView:
    user: str
    clusters: tuple[ClusterLine, ...]
    active: tuple[RunLine, ...]
    waiting: tuple[WaitingLine, ...]
    recent: tuple[RunLine, ...]
    at: datetime


def render_home(view: HomeView) -> dict[str, Any]:
    blocks: list[Block] = [header("Mesh upgrades"),
                           context(f"For <@{view.user}> · updated {when(view.at)}")]
    blocks += _waiting(view.waiting)
    blocks += _active(view.active)
    blocks += _clusters(view.clusters)
    blocks += _recent(view.recent)
    return {"type": "home", "blocks": to_dicts(blocks[:HOME_BLOCKS])}


def _card(run: RunLine) -> str:
    name = f"run {run.run_id}"
    return f"<{run.link}|{name}>" if run.link else name


def _run_text(run: RunLine) -> str:
    return (f"{phase_emoji(run.phase)} *{escape(run.cluster)}* {escape(run.from_rev)} → "
            f"{escape(run.to_rev)}: {phase_label(run.phase)} ({_card(run)}, asked by "
            f"<@{run.requested_by}>)")


def _waiting(waiting: tuple[WaitingLine, ...]) -> list[Block]:
    blocks: list[Block] = [DividerBlock(), header("Waiting for your approval")]
    if not waiting:
        return [*blocks, section("Nothing waits for you.")]
    for w in waiting[:RUNS_SHOWN]:
        blocks.append(section(
            f":raised_hand: *{w.action.value}* on *{escape(w.run.cluster)}* "
            f"({escape(w.run.from_rev)} → {escape(w.run.to_rev)}): {w.have} of {w.need} "
            f"approval(s). Approve it on the card: {_card(w.run)}."))
    return blocks


def _active(active: tuple[RunLine, ...]) -> list[Block]:
    blocks: list[Block] = [DividerBlock(), header("Runs in progress")]
    if not active:
        return [*blocks, section("No upgrade is running.")]
    return blocks + [section(_run_text(r)) for r in active[:RUNS_SHOWN]]


def _clusters(clusters: tuple[ClusterLine, ...]) -> list[Block]:
    blocks: list[Block] = [DividerBlock(), header("Clusters")]
    for c in clusters[:CLUSTERS_SHOWN]:
        revisions = ", ".join(f"`{escape(r)}`" for r in c.revisions) or "not read yet"
        upgrades = ", ".join(f"`{escape(u)}`" for u in c.upgrades) or "none offered"
        proxies = counts_text(c.proxy_versions) if c.proxy_versions else "no census yet"
        seen = f"as of {when(c.seen_at)}" if c.seen_at else "not read yet"
        blocks.append(section(f"*{escape(c.name)}* in <#{c.channel}>\nRevisions: {revisions} · "
                              f"upgrades: {upgrades}\nProxy versions (pods): {proxies}"))
        blocks.append(context(seen))
    return blocks


def _recent(recent: tuple[RunLine, ...]) -> list[Block]:
    if not recent:
        return []
    return [DividerBlock(), header("Recently finished"),
            *(section(f"{_run_text(r)} · {when(r.updated_at)}") for r in recent[:RECENT_SHOWN])]
