"""The fleet card: one message in the fleet's channel, edited in place as the fleet moves.

Rings as rows, each cluster with its run's phase and a link to its own card, what the fleet
waits for, the evidence for promotion (each completed cluster's time on the new revision, its
checks and its traffic gates), and the buttons possible now. A button carries only the fleet
run's id, the action and the version (`fleet=7;a=promote;v=12`); everything else is read at
click time, so a stale or forged click changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    DividerBlock,
)

from bot.fleet.runs import FleetAction, FleetPhase, FleetRun, Member, MemberState, RingSpec
from bot.slack.blocks import (
    TEXT_BUDGET,
    block_text_size,
    clip,
    context,
    escape,
    fit_message,
    header,
    section,
    when,
)
from bot.slack.buttons import phase_emoji, phase_label
from bot.slack.wording.phrases import duration
from bot.upgrade.approvals import ApprovalPolicy
from bot.upgrade.records import Run
from bot.workflow.fleet.records import Evidence

ACTION_IDS: Mapping[FleetAction, str] = MappingProxyType({
    a: f"fleet-{a.value}" for a in FleetAction})
_BY_ID = MappingProxyType({aid: a for a, aid in ACTION_IDS.items()})
_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]{2,20})&gt;")
_VALUE = re.compile(r"fleet=(0|[1-9][0-9]{0,17});a=([a-z]{1,16});v=(0|[1-9][0-9]{0,17})")
SECTION_CHARS = 2900  # Slack's section text limit is 3,000
REASON_CHARS = 200  # of a reason on a row; 60 when the fleet is big
_BUTTONS = {
    FleetAction.PROMOTE: ("Approve promotion to {to}", "primary"),
    FleetAction.PAUSE: ("Pause fleet", None),
    FleetAction.RESUME: ("Resume fleet", "primary"),
    FleetAction.CANCEL: ("Cancel fleet run", "danger"),
}
_MEMBER_EMOJI = MappingProxyType({
    MemberState.PENDING: ":white_circle:", MemberState.AT_TARGET: ":white_check_mark:",
    MemberState.SKIPPED: ":no_entry:", MemberState.STOPPED: ":octagonal_sign:",
    MemberState.COMPLETED: ":white_check_mark:",
})
_GROUP_WORDS = MappingProxyType({
    MemberState.PENDING: "wait for their ring", MemberState.RUNNING: "under way",
    MemberState.COMPLETED: "completed", MemberState.AT_TARGET: "already on the target",
    MemberState.SKIPPED: "skipped (`fleet plan` says why)", MemberState.STOPPED: "stopped",
})
_PHASE_WORDS = MappingProxyType({
    FleetPhase.RUNNING: ":arrow_forward: Running", FleetPhase.SOAKING: ":hourglass: Soaking",
    FleetPhase.AWAITING_PROMOTION: ":raised_hand: Awaiting promotion",
    FleetPhase.STOPPED: ":octagonal_sign: Stopped",
    FleetPhase.PAUSED: ":double_vertical_bar: Paused",
    FleetPhase.COMPLETED: ":white_check_mark: Completed",
    FleetPhase.CANCELLED: ":no_entry_sign: Cancelled",
})


class InvalidFleetButton(ValueError):
    """A fleet button value the bot never wrote: refused, never guessed at."""


@dataclass(frozen=True)
class FleetButton:
    fleet_run_id: int
    action: FleetAction
    version: int


def encode_value(fleet_run_id: int, action: FleetAction, version: int) -> str:
    return f"fleet={fleet_run_id};a={action.value};v={version}"


def decode_value(value: object, aid: object) -> FleetButton:
    if not isinstance(value, str) or len(value) > 64 or not isinstance(aid, str):
        raise InvalidFleetButton("fleet button value has the wrong type or length")
    match = _VALUE.fullmatch(value)
    action = _BY_ID.get(aid)
    if match is None or action is None or match[2] != action.value:
        raise InvalidFleetButton(f"malformed fleet button {aid[:30]!r}={value[:64]!r}")
    return FleetButton(int(match[1]), action, int(match[3]))


@dataclass(frozen=True)
class MemberView:
    member: Member
    run: Run | None  # its cluster's run in this fleet run, if it started
    link: str | None  # the permalink of that run's card
    evidence: Evidence | None  # for a completed cluster


@dataclass(frozen=True)
class FleetView:
    run: FleetRun
    rings: tuple[RingSpec, ...]
    members: tuple[MemberView, ...]
    promotion: ApprovalPolicy
    approvals: tuple[str, ...]  # who approved the pending promotion so far
    now: datetime


def render_fleet_card(view: FleetView) -> list[Block]:
    run = view.run
    blocks: list[Block] = [
        header(clip(f"Fleet {run.fleet} → {run.target}", 150)),
        section(f"*{_PHASE_WORDS[run.phase]}* · ring {run.ring + 1} of {len(view.rings)} "
                f"(*{view.rings[run.ring].name}*)\n{waits_for(view)}"),
        context(f"Fleet run {run.id} · requested by <@{run.requested_by}> at "
                f"{when(run.created_at)} · each cluster has its own card, approvals and "
                "gates"),
        DividerBlock(),
    ]
    rings = _rings(view, REASON_CHARS, compact=False)
    if sum(block_text_size(b) for b in rings) > TEXT_BUDGET // 2:  # a big fleet: in short
        rings = _rings(view, 60, compact=True)
    buttons = _buttons(view)
    tail: list[Block] = [ActionsBlock(elements=buttons)] if buttons else []
    return fit_message([*blocks, *rings, *tail], keep_last=len(tail))


def _rings(view: FleetView, reason_chars: int, compact: bool) -> list[Block]:
    """A row per cluster; `compact`: only the current ring's, the other rings' clusters
    named in one line per state (their links and evidence are on their own cards)."""
    blocks: list[Block] = []
    for i, ring in enumerate(view.rings):
        rows = [m for m in view.members if m.member.ring == i]
        title = (f"*Ring {i + 1} · {ring.name}* · {ring.max_parallel} at a time · soak "
                 f"{duration(ring.soak.total_seconds())}{_ring_state(view, i)}")
        lines = _grouped(rows) if compact and i != view.run.ring \
            else [_row(m, view, reason_chars) for m in rows]
        blocks += [section(text) for text in _chunks([title, *lines])]
    return blocks


def _grouped(rows: Sequence[MemberView]) -> list[str]:
    by_state: dict[MemberState, list[str]] = {}
    for m in rows:
        by_state.setdefault(m.member.state, []).append(f"`{m.member.cluster}`")
    return [f"{_MEMBER_EMOJI.get(state, ':arrow_forward:')} {_GROUP_WORDS[state]}: "
            f"{', '.join(names)}" for state, names in by_state.items()]


def fleet_fallback_text(view: FleetView) -> str:
    run = view.run
    return f"Fleet {run.fleet} to {run.target}: {run.phase.value}, ring " \
           f"{view.rings[run.ring].name}"


def waits_for(view: FleetView) -> str:
    """What the fleet waits for now, in one or two sentences."""
    run, rings = view.run, view.rings
    nxt = rings[run.ring + 1].name if run.ring + 1 < len(rings) else None
    if run.phase is FleetPhase.RUNNING:
        going = [m.member.cluster for m in view.members
                 if m.member.ring == run.ring and m.member.state is MemberState.RUNNING]
        if going:
            return (f"Waits for {', '.join(f'`{c}`' for c in going)}: each goes through its "
                    "own card (start, roll-out and complete need its approvers).")
        return "Starting the ring's next clusters."
    if run.phase is FleetPhase.SOAKING:
        until = f" until {when(run.soak_until)}" if run.soak_until else ""
        return (f"Ring *{rings[run.ring].name}* is done and soaks{until}; then promotion to "
                f"*{nxt}* needs {_who(view.promotion)}.")
    if run.phase is FleetPhase.AWAITING_PROMOTION:
        got = f" Approved so far by {', '.join(f'<@{u}>' for u in view.approvals)}." \
            if view.approvals else ""
        ends = run.asked_at + view.promotion.expires_after if run.asked_at else None
        until = "" if ends is None else f", open until {when(ends)}" if view.now < ends \
            else f"; the request expired at {when(ends)}: an approver's click asks again"
        return (f"Promotion to ring *{nxt}* needs {_who(view.promotion)} (not the requester)"
                f"{until}. The evidence is below.{got}")
    if run.phase is FleetPhase.STOPPED:
        return (f":octagonal_sign: {_note(run.note)}\nNo further cluster starts and nothing is "
                "promoted. *Resume* starts the stopped clusters again (once their runs are "
                "over); *Cancel* ends the fleet run.")
    if run.phase is FleetPhase.PAUSED:
        return f"{_note(run.note)}. Runs under way go on; *Resume* carries on."
    if run.phase is FleetPhase.COMPLETED:
        return f"Every ring is done: its clusters run *{run.target}* or were skipped."
    return f"{_note(run.note or 'Cancelled')}. No further cluster starts."


def _note(text: str) -> str:
    """A fleet run's note, escaped (it may hold a person's reason), with the bot's own
    mentions of who paused or cancelled it (`<@U…>`, never a person's `<@U…|name>`) kept."""
    return _MENTION.sub(r"<@\1>", escape(text))


def _who(policy: ApprovalPolicy) -> str:
    names = [f"<!subteam^{g}>" for g in policy.groups] + [f"<@{u}>" for u in policy.users]
    return f"{policy.required} approval{'s' if policy.required != 1 else ''} from " \
           f"{' or '.join(names)}"


def _ring_state(view: FleetView, ring: int) -> str:
    run = view.run
    if ring < run.ring or (ring == run.ring and run.phase in (
            FleetPhase.SOAKING, FleetPhase.AWAITING_PROMOTION, FleetPhase.COMPLETED)):
        return " · done"
    return " · under way" if ring == run.ring and not run.over else ""


def _row(m: MemberView, view: FleetView, reason_chars: int) -> str:
    member, run = m.member, m.run
    name = f"<{m.link}|{member.cluster}>" if m.link else f"`{member.cluster}`"
    if run is not None and member.state in (MemberState.RUNNING, MemberState.COMPLETED,
                                            MemberState.STOPPED):
        line = f"{phase_emoji(run.phase)} {name}: {phase_label(run.phase)}"
        if run.pause_reason and member.state is MemberState.RUNNING:
            line += f" · _paused: {escape(clip(run.pause_reason, reason_chars))}_"
        if member.state is MemberState.STOPPED:
            line += f" · *stops the fleet*: {escape(clip(member.reason, reason_chars))}"
        if m.evidence is not None:
            line += f"\n      {_evidence(m.evidence, view.now)}"
        return line
    words = {MemberState.PENDING: member.reason or "waits for its ring",
             MemberState.AT_TARGET: member.reason or f"already on {view.run.target}",
             MemberState.SKIPPED: f"skipped: {member.reason}",
             MemberState.STOPPED: f"stops the fleet: {member.reason}"}
    return f"{_MEMBER_EMOJI.get(member.state, ':white_circle:')} {name}: " \
           f"{escape(clip(words.get(member.state, member.state.value), reason_chars))}"


def _evidence(e: Evidence, now: datetime) -> str:
    parts = []
    if e.on_target_since is not None:
        on = (now - e.on_target_since).total_seconds()
        parts.append(f"on the new revision for {duration(on)}")
    checks = e.checks_passed + e.checks_failed
    if checks:
        parts.append(f"checks {e.checks_passed}/{checks} passed")
    if e.waves:
        waves = sum(e.waves.values())
        parts.append(f"traffic: {e.waves.get('passed', 0)}/{waves} waves passed"
                     + (f", soak {e.soak.replace('_', ' ')}" if e.soak else ""))
    elif e.soak:
        parts.append(f"traffic soak {e.soak.replace('_', ' ')}")
    return "_" + (" · ".join(parts) or "no checks recorded") + "_"


def _buttons(view: FleetView) -> list[ButtonElement]:
    run = view.run
    nxt = view.rings[run.ring + 1].name if run.ring + 1 < len(view.rings) else ""
    out = []
    for action in (FleetAction.PROMOTE, FleetAction.RESUME, FleetAction.PAUSE,
                   FleetAction.CANCEL):
        if action not in run.actions():
            continue
        label, style = _BUTTONS[action]
        confirm = ConfirmObject(title="Cancel the fleet run?", text="No further cluster "
                                "starts; runs under way go on as their cards say.",
                                confirm="Cancel fleet run", deny="Keep it") \
            if action is FleetAction.CANCEL else None
        out.append(ButtonElement(text=label.format(to=nxt)[:75], action_id=ACTION_IDS[action],
                                 value=encode_value(run.id, action, run.version), style=style,
                                 confirm=confirm))
    return out


def _chunks(lines: Sequence[str]) -> list[str]:
    """Lines joined into section texts under Slack's limit (a big ring takes several)."""
    out: list[str] = []
    current = ""
    for line in lines:
        line = clip(line, SECTION_CHARS)
        if current and len(current) + 1 + len(line) > SECTION_CHARS:
            out.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    return [*out, current] if current else out
