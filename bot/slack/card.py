"""The run card: one root message per run, re-rendered and edited in place on every change.

It shows where the run is (phase, pause, progress), both control planes, the sidecar census
(with each revision's sidecar modes), what needs a person without blocking the bot (running
Job pods, finished pods, unhealthy workloads without a sidecar), who approved what, and exactly
the buttons the phase table allows now. Each button carries
only run id, action and version (bot.actions), so a click on an old card changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ConfirmObject

from bot.slack.blocks import (
    clip,
    context,
    counts_text,
    escape,
    fields_section,
    fit_message,
    header,
    section,
    when,
)
from bot.slack.buttons import action_id, action_label, encode_value, phase_emoji, phase_label
from bot.slack.wording.traffic import OUTCOME_EMOJI, label_when, outcome_words, override_command
from bot.upgrade.phases import Action, Phase, RunKind, allowed_actions

BAR_WIDTH = 20
NOTES_SHOWN = 6
_PRIMARY = frozenset({Action.START, Action.ROLL, Action.COMPLETE, Action.RETRY})
_ORDER = (Action.RETRY, Action.START, Action.ROLL, Action.RESTART, Action.COMPLETE,
          Action.ROLLBACK, Action.CANCEL)


@dataclass(frozen=True)
class PlaneStatus:
    """One revision's control plane: istiod and its ingress gateways, ready of desired."""

    revision: str
    istiod_ready: int
    istiod_desired: int
    gateways_ready: int = 0
    gateways_desired: int = 0

    @property
    def healthy(self) -> bool:
        return (self.istiod_desired > 0 and self.istiod_ready >= self.istiod_desired
                and self.gateways_ready >= self.gateways_desired)


@dataclass(frozen=True)
class ApprovalView:
    """One recorded approval: who (Slack user id) approved which action, and when."""

    action: Action
    user_id: str
    at: datetime


@dataclass(frozen=True)
class PendingApproval:
    """An action waiting for approvers: `have` of `need`, until `expires_at`."""

    action: Action
    have: int
    need: int
    expires_at: datetime | None = None
    expired: bool = False  # nobody approved in time: the button now asks for it again


@dataclass(frozen=True)
class TrafficLine:
    """The traffic gates on the card: what holds the run now, or the latest verdict."""

    label: str  # "wave 2 of 5", "the soak"
    outcome: str  # an Outcome value: passed, breached, no_verdict, unavailable
    summary: str  # "1 breached, 4 passed"
    holds: Action | None = None  # while a gate holds the run: the action it holds back
    at: datetime | None = None  # when the latest verdict was taken


@dataclass(frozen=True)
class CardView:
    """Everything the card shows, as plain data. `progress` is (done, total) workloads;
    census maps count pods per revision ("" = no sidecar), per proxy version, and per revision
    and sidecar mode ("classic", "native"); `notes` are what a person should know."""

    run_id: int
    version: int
    cluster: str
    from_rev: str
    to_rev: str
    phase: Phase
    kind: RunKind = RunKind.MINOR
    requested_by: str = ""
    paused_reason: str | None = None
    paused_hint: str | None = None
    progress: tuple[int, int] | None = None
    planes: tuple[PlaneStatus, ...] = ()
    census_by_revision: Mapping[str, int] = field(default_factory=dict)
    census_by_version: Mapping[str, int] = field(default_factory=dict)
    approvals: tuple[ApprovalView, ...] = ()
    pending: tuple[PendingApproval, ...] = ()
    updated_at: datetime | None = None
    next_check_at: datetime | None = None
    use_tags: bool = True  # False: `--no-tags`, namespaces are relabelled to the revision
    census_modes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    left_for_people: tuple[str, ...] = ()  # what the run could not finish, and how to
    traffic: TrafficLine | None = None


def render_card(view: CardView) -> list[Block]:
    blocks: list[Block] = [header(_title(view)), section(_phase_text(view))]
    if view.paused_reason:
        hint = f"\n{view.paused_hint}" if view.paused_hint else ""
        blocks.append(section(f":warning: *Paused:* {view.paused_reason}{hint}"))
    if view.progress is not None and view.phase in (Phase.ROLLING, Phase.PATCH_RESTARTING):
        blocks.append(section(progress_bar(*view.progress)))
    if view.traffic is not None:
        blocks.append(section(traffic_text(view.traffic, view.cluster)))
    if view.planes:
        blocks.append(fields_section([_plane(p) for p in view.planes], "*Control planes*"))
    if view.census_by_revision or view.census_by_version:
        blocks.append(section(_census(view)))
    if view.notes:
        blocks.append(section(_notes(view.notes)))
    if view.left_for_people:
        blocks.append(section(":memo: *Left for you:*\n" + "\n".join(
            f"• {escape(line)}" for line in view.left_for_people)))
    if view.approvals or view.pending:
        blocks.append(context(*_approvals(view)))
    buttons = _buttons(view)
    blocks.append(context(_footer(view)))
    if buttons:
        blocks.append(ActionsBlock(block_id=f"run-{view.run_id}-v{view.version}",
                                   elements=buttons))
    return fit_message(blocks, keep_last=2 if buttons else 1)


def card_fallback_text(view: CardView) -> str:
    """The message's `text`: what notifications and screen readers show."""
    text = (f"mesh-upgrade {view.cluster}: {view.from_rev} → {view.to_rev}: "
            f"{phase_label(view.phase)}")
    if view.progress is not None and view.phase is Phase.ROLLING:
        text += f" ({view.progress[0]}/{view.progress[1]} workloads)"
    if view.paused_reason:
        text += f". Paused: {view.paused_reason}"
    return clip(text, 300)


def progress_bar(done: int, total: int) -> str:
    """`[██████░░░░░░░░░░░░░░] 3/10 workloads (30%)`, safe for any numbers."""
    total, done = max(total, 0), max(done, 0)
    share = min(done / total, 1.0) if total else 0.0
    filled = round(share * BAR_WIDTH)
    bar = "█" * filled + "░" * (BAR_WIDTH - filled)
    return f"`[{bar}]` {done}/{total} workloads ({share:.0%})"


def traffic_text(line: TrafficLine, cluster: str) -> str:
    """`:x: *Traffic:* held after wave 2 of 5 (breached: 1 breached, 4 passed). …`"""
    icon = OUTCOME_EMOJI.get(line.outcome, ":grey_question:")
    judged = f"{outcome_words(line.outcome)}: {escape(line.summary)}" if line.summary \
        else outcome_words(line.outcome)
    when_ = label_when(escape(line.label))
    if line.holds is Action.COMPLETE:
        return (f"{icon} *Traffic:* Complete is held: the traffic {when_} did not pass "
                f"({judged}).\nRoll back, or accept it with {override_command(cluster)}.")
    if line.holds is not None and line.outcome == "unavailable":
        return (f"{icon} *Traffic:* further waves are held {when_}: the metrics source did "
                f"not answer.\nContinue… reads it again; or roll back, or go on without a "
                f"verdict with {override_command(cluster)}.")
    if line.holds is not None:
        return (f"{icon} *Traffic:* further waves are held {when_} ({judged}).\n"
                f"Roll back, or go on with {override_command(cluster)}.")
    at = f" · {when(line.at)}" if line.at is not None else ""
    return f"{icon} *Traffic* {when_}: {judged}{at}"


def _title(view: CardView) -> str:
    if view.kind is RunKind.PATCH:
        return f"Mesh patch · {view.cluster}: restart outdated sidecars on {view.to_rev}"
    return f"Mesh upgrade · {view.cluster}: {view.from_rev} → {view.to_rev}"


def _phase_text(view: CardView) -> str:
    who = f" · requested by <@{view.requested_by}>" if view.requested_by else ""
    how = (f"\nWithout revision tags: namespaces are relabelled to `{escape(view.to_rev)}`"
           if view.kind is RunKind.MINOR and not view.use_tags else "")
    return (f"{phase_emoji(view.phase)} *{phase_label(view.phase)}*\n"
            f"Run {view.run_id}{who}{how}")


def _plane(plane: PlaneStatus) -> str:
    mark = ":white_check_mark:" if plane.healthy else ":hourglass:"
    gateways = (f"\ngateways {plane.gateways_ready}/{plane.gateways_desired} ready"
                if plane.gateways_desired else "")
    return (f"{mark} *{escape(plane.revision)}*\n"
            f"istiod {plane.istiod_ready}/{plane.istiod_desired} ready{gateways}")


def _census(view: CardView) -> str:
    lines = []
    if view.census_by_revision:
        lines.append(f"*Sidecars by revision:* {counts_text(view.census_by_revision)}")
    if view.census_by_version:
        lines.append(f"*Proxy versions:* {counts_text(view.census_by_version)}")
    if view.census_modes:
        lines.append(f"*Sidecar modes:* {modes_text(view.census_modes)}")
    return "\n".join(lines)


def modes_text(modes: Mapping[str, Mapping[str, int]]) -> str:
    """`asm-1-27: 41 classic · asm-1-28: 3 native, 1 classic`."""
    return " · ".join(f"{escape(rev)}: " + ", ".join(f"{n} {escape(m)}" for m, n in
                                                      sorted(counts.items()) if n)
                      for rev, counts in sorted(modes.items()) if any(counts.values()))


def _notes(notes: tuple[str, ...]) -> str:
    shown = [f"• {escape(n)}" for n in notes[:NOTES_SHOWN]]
    if len(notes) > NOTES_SHOWN:
        shown.append(f"• and {len(notes) - NOTES_SHOWN} more: see the last check in the thread")
    return ":information_source: *Needs a person, not the bot:*\n" + "\n".join(shown)


def _approvals(view: CardView) -> list[str]:
    done = [f":ballot_box_with_check: {a.action.value} by <@{a.user_id}> {when(a.at)}"
            for a in view.approvals[-6:]]
    waiting = [_waiting(p) for p in view.pending[:3]]
    return done + waiting


def _waiting(pending: PendingApproval) -> str:
    if pending.expired:
        at = f" at {when(pending.expires_at)}" if pending.expires_at else ""
        return (f":warning: *{pending.action.value}: approval expired*{at} — "
                "click to request again")
    return (f":hourglass: {pending.action.value}: {pending.have} of {pending.need} approvals"
            + (f", expires {when(pending.expires_at)}" if pending.expires_at else ""))


def _footer(view: CardView) -> str:
    parts = [f"v{view.version}"]
    if view.updated_at is not None:
        parts.append(f"updated {when(view.updated_at)}")
    if view.next_check_at is not None:
        parts.append(f"next check {when(view.next_check_at)}")
    parts.append("checks and steps are in the thread")
    return " · ".join(parts)


def _buttons(view: CardView) -> list[ButtonElement]:
    allowed = allowed_actions(view.phase, view.kind, view.paused_reason is not None)
    pending = {p.action: p for p in view.pending}
    return [_button(view, a, pending.get(a)) for a in _ORDER if a in allowed]


def _button(view: CardView, action: Action, pending: PendingApproval | None) -> ButtonElement:
    held = view.traffic is not None and view.traffic.holds is action
    label = action_label(action, view.phase, view.kind, held)
    if pending is not None and pending.expired:
        label = f"Ask again: {label}"
    elif pending is not None:
        label += f" ({pending.have}/{pending.need})"
    style = "primary" if action in _PRIMARY else "danger" if action is Action.ROLLBACK else None
    return ButtonElement(text=clip(label, 75), action_id=action_id(action),
                         value=encode_value(view.run_id, action, view.version), style=style,
                         confirm=_confirm(view, action))


def _confirm(view: CardView, action: Action) -> ConfirmObject | None:
    cluster = clip(view.cluster, 80)
    if action is Action.COMPLETE:
        return ConfirmObject(
            title=clip(f"Complete on {cluster}?", 100),
            text=clip(f"This removes the {view.from_rev} control plane. Workloads still on "
                      f"{view.from_rev} would drop out of the mesh.", 300),
            confirm="Complete", deny="Not yet")
    if action is Action.ROLLBACK:
        return ConfirmObject(
            title=clip(f"Roll back {cluster}?", 100),
            text=clip(f"Workloads go back to {view.from_rev} and restart, then the "
                      f"{view.to_rev} control plane is removed.", 300),
            confirm="Roll back", deny="Keep going", style="danger")
    return None
