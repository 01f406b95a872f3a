"""What one audit entry says in the run's thread: a sentence a person would write, and the
detail a person needs one glance below it (a context block), plus the command a person would
have typed when the entry is one. The entry's kind (and the detail it carries)
chooses the words; nothing here feeds back into the workflow, and no state-machine name
(phase, event, detail key) reaches Slack. Pure: plain data in, mrkdwn out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from slack_sdk.models.blocks import Block

from bot.slack.blocks import clip, context, section, slack_date
from bot.slack.wording.phrases import (
    Said,
    Subject,
    code,
    count,
    detail_of,
    duration,
    human,
    people,
    person,
    workload,
    workloads,
)
from bot.slack.wording.traffic import say_traffic_overridden, say_traffic_verdict
from bot.upgrade.kinds import COMMANDS, AuditKind
from bot.upgrade.phases import Event, Phase, RunKind
from bot.upgrade.records import AuditEntry

# --- the sentences -------------------------------------------------------------------------

ACTION_WORDS: Mapping[str, str] = MappingProxyType({
    "start": "starting the upgrade", "roll": "rolling out the workloads",
    "complete": "completing the upgrade", "rollback": "rolling back",
    "restart": "restarting the workloads", "cancel": "cancelling the run",
    "retry": "retrying the paused step",
})
_BUTTONS: Mapping[str, str] = MappingProxyType({
    "start": "Start upgrade", "roll": "Roll out workloads", "complete": "Complete",
    "rollback": "Roll back", "restart": "Restart", "cancel": "Cancel", "retry": "Retry now",
})
_REFUSALS: Mapping[str, str] = MappingProxyType({
    "requester_cannot_approve": "whoever asked for a step cannot approve it too",
    "not_an_approver": "they are not an approver for this step",
    "already_approved": "they had approved it already",
    "membership_unknown": "Slack could not say which groups they are in",
    "expired": "the request had expired",
    "stale": "the card they clicked was out of date",
    "out_of_turn": "that step is not possible at this point of the run",
})

Sayer = Callable[[AuditEntry, Subject], Said]


def say(entry: AuditEntry, subject: Subject) -> Said:
    """The reply for `entry`, with who did it and when in its context block."""
    said = _SAYERS.get(entry.kind, _note)(entry, subject)
    by = person(entry.actor)
    footer = f"{'by ' + by if by != 'The bot' else 'by the bot'} · {slack_date(entry.at)}"
    return Said(said.sentence, (*said.details, footer))


def reply_of(entry: AuditEntry, subject: Subject) -> tuple[list[Block], str]:
    """(blocks, notification text) of the entry's reply in the run's thread; an entry whose
    text is a command a person would have typed shows that command too."""
    said = say(entry, subject)
    return reply_blocks(said, entry.what if entry.kind in COMMANDS else None), said.notification


def reply_blocks(said: Said, command: str | None = None) -> list[Block]:
    text = said.sentence
    if command:
        text += f"\n```{clip(command.replace('```', ''), 1_500)}```"
    return [section(text), context(*said.details)] if said.details else [section(text)]


def _action(entry: AuditEntry) -> str:
    return str(detail_of(entry).get("action", ""))


def _run_requested(e: AuditEntry, s: Subject) -> Said:
    plan = detail_of(e).get("plan") or {}
    waves = len(plan.get("waves") or ()) if isinstance(plan, Mapping) else 0
    if s.kind is RunKind.PATCH:
        return Said(f"{person(e.actor)} asked to restart the workloads with outdated sidecars "
                    f"on {code(s.cluster)} ({s.to_rev}).",
                    ("An approver confirms with *Restart outdated* on the card.",))
    notes = [f"{count(waves, 'restart wave')} planned"] if waves else []
    return Said(f"{person(e.actor)} asked to upgrade {code(s.cluster)} from {s.from_rev} to "
                f"{s.to_rev}.", (" · ".join([*notes, "an approver starts it on the card"]),))


def _requested(e: AuditEntry, s: Subject) -> Said:
    words = ACTION_WORDS.get(_action(e), "a step")
    return Said(f"{person(e.actor)} asked for {words}.",
                (f"An approver clicks *{_BUTTONS.get(_action(e), 'it')}* on the card.",))


def _approved(e: AuditEntry, s: Subject) -> Said:
    words = ACTION_WORDS.get(_action(e), "a step")
    more = "" if detail_of(e).get("satisfied", True) else "; it needs more approvals before it runs"
    return Said(f":ballot_box_with_check: {person(e.actor)} approved {words}{more}.")


def _refused(e: AuditEntry, s: Subject) -> Said:
    d = detail_of(e)
    reason = _REFUSALS.get(str(d.get("verdict")), "the approval policy said no")
    button = _BUTTONS.get(_action(e), "a button")
    why = (human(d["why"]),) if d.get("why") else ()
    return Said(f":no_entry: {person(e.actor)} clicked *{button}*; nothing was done: "
                f"{reason}.", why)


def _expired(e: AuditEntry, s: Subject) -> Said:
    words = ACTION_WORDS.get(_action(e), "the step")
    d = detail_of(e)
    asked = _parse_time(d.get("asked_at"))
    return Said(f":hourglass: Nobody approved {words} in time. Its button on the card asks "
                "for it again.", (f"asked {slack_date(asked)}",) if asked else ())


def _resumed(e: AuditEntry, s: Subject) -> Said:
    pause = detail_of(e).get("pause")
    return Said(f"{person(e.actor)} resumed the run: the paused step runs again.",
                (f"It was paused because: {human(pause)}",) if pause else ())


def _gate_refused(e: AuditEntry, s: Subject) -> Said:
    left = [str(x) for x in detail_of(e).get("remaining") or ()]
    return Said(f":no_entry: Not completed: {count(len(left), 'workload')} still run on "
                f"{s.from_rev}, and completing would drop them out of the mesh.",
                (f"Still on {s.from_rev}: {workloads(left)}",) if left else ())


def _paused(e: AuditEntry, s: Subject) -> Said:
    d = detail_of(e)
    return Said(f":warning: Paused: {human(d.get('reason') or 'a person must look')}",
                (human(d["hint"]),) if d.get("hint") else ())


def _arm_put(e: AuditEntry, s: Subject) -> Said:
    d = detail_of(e)
    target = " and ".join(d.get("target") or ()) or "the new revisions"
    approved = [str(x) for x in d.get("approved_by") or ()]
    sent = "Asked Azure to run" if d.get("sent", True) else "Azure already runs"
    details = [f"approved by {people(approved)}"] if approved else []
    if d.get("note"):
        details.append(human(d["note"]))
    return Said(f"{sent} the control plane{'s' if ' and ' in target else ''} {target} on "
                f"{code(s.cluster)}.", tuple(details))


def _arm_succeeded(e: AuditEntry, s: Subject) -> Said:
    target = " and ".join(detail_of(e).get("target") or ()) or "the asked revisions"
    return Said(f"Azure finished: {code(s.cluster)} now runs {target}.")


def _arm_failed(e: AuditEntry, s: Subject) -> Said:
    d = detail_of(e)
    target = " and ".join(d.get("target") or ()) or "the asked revisions"
    return Said(f":x: Azure could not set the revisions of {code(s.cluster)} to {target}.",
                (human(d["reason"]),) if d.get("reason") else ())


def _config_copied(e: AuditEntry, s: Subject) -> Said:
    d = detail_of(e)
    if d.get("target"):
        return Said(f"Copied the shared mesh config to {code(d['target'])} "
                    f"({human(d.get('outcome', 'done'))}).")
    return Said(f"Copied the shared mesh config for {s.to_rev}.")


def _config_deleted(e: AuditEntry, s: Subject) -> Said:
    return Said("Deleted the shared mesh config of the removed revision.")


def _tag_set(e: AuditEntry, s: Subject) -> Said:
    d = detail_of(e)
    if d.get("tag") and d.get("revision"):
        moved = f" (it was on {d['previous']})" if d.get("previous") else ""
        return Said(f"Pointed the revision tag {code(d['tag'])} at {d['revision']}{moved}.")
    return Said("Moved a revision tag.")


def _tag_removed(e: AuditEntry, s: Subject) -> Said:
    tag = detail_of(e).get("tag")
    return Said(f"Removed the revision tag {code(tag)}." if tag else "Removed a revision tag.")


def _tag_kept(e: AuditEntry, s: Subject) -> Said:
    d = detail_of(e)
    users = [str(n) for n in d.get("namespaces") or ()]
    spaces = ", ".join(code(n) for n in users)
    then = (f"Once they moved: {code(d['command'])}",) if d.get("command") else ()
    return Said(f":memo: Kept the revision tag {code(d.get('tag', '?'))} on "
                f"{d.get('revision', 'the surviving revision')}: "
                f"{count(len(users), 'namespace')} the bot may not touch still use it "
                f"({spaces}).", then)


def _namespace_labelled(e: AuditEntry, s: Subject) -> Said:
    d = detail_of(e)
    if d.get("namespace"):
        return Said(f"Moved the namespace {code(d['namespace'])} to "
                    f"{code(d.get('value', '?'))}; its pods change at their next restart.")
    return Said("Relabelled a namespace for the new revision.")


def _waves_planned(e: AuditEntry, s: Subject) -> Said:
    d = detail_of(e)
    waves = [list(w) for w in d.get("waves") or ()]
    total = sum(len(w) for w in waves)
    details = []
    if d.get("manual"):
        details.append(f"Restart by hand: {workloads(d['manual'])}")
    if d.get("left"):
        details.append(f"Left as they are: {workloads(d['left'])}")
    return Said(f"Planned {count(len(waves), 'restart wave')} for "
                f"{count(total, 'workload')}.", tuple(details))


def _restart_wave(e: AuditEntry, s: Subject) -> Said:
    d = detail_of(e)
    done = [str(w) for w in d.get("done") or ()]
    restarted = [str(w) for w in d.get("patched") or ()] or done
    started = _parse_time(d.get("restart_id"))
    took = f" in {duration((e.at - started).total_seconds())}" if started else ""
    which = workloads(restarted) if len(restarted) <= 3 else count(len(restarted), "workload")
    wave = f"wave {d.get('wave', '?')} of {d.get('of', '?')}"
    details = [f"Workloads: {workloads(restarted)}"] if len(restarted) > 3 else []
    details += [f"Skipped {workload(x.split(':')[0])}: {human(x.split(':', 1)[-1].strip())}"
                for x in d.get("skipped") or ()][:5]
    approved = [str(x) for x in d.get("approved_by") or ()]
    if approved:
        details.append(f"roll-out approved by {people(approved)}")
    if not restarted:
        return Said(f"Nothing to restart in {wave}.", tuple(details))
    return Said(f"Restarted {which} ({wave}): rolled out{took}.", tuple(details))


def _note(e: AuditEntry, s: Subject) -> Said:
    return Said(human(e.what))


# --- phase changes: what the run does now, in words --------------------------------------

def _phase_changed(e: AuditEntry, s: Subject) -> Said:
    d = detail_of(e)
    to = _phase_of(e)
    event = str(d.get("event", ""))
    approvers = [str(x) for x in d.get("approvers") or ()] or \
        ([e.actor] if person(e.actor) != "The bot" else [])
    by = people(approvers) if approvers else "The bot"
    if d.get("traffic") and to is Phase.ROLLING_BACK:
        return Said(f":rewind: The traffic gate breached, so the bot is rolling back: moving "
                    f"the workloads back to {s.from_rev}, then removing {s.to_rev}.",
                    (human(d["why"]),) if d.get("why") else ())
    sentence = _PHASE_SENTENCES.get(to, _generic_phase)(s, by, d)
    if event == Event.RETRY.value:
        sentence = f"{by} asked to retry the paused step. " + sentence
    return Said(sentence)


def _phase_of(e: AuditEntry) -> Phase | None:
    name = detail_of(e).get("to") or e.what.removeprefix("phase ").strip()
    return Phase(name) if name in Phase.__members__.values() else None


def _soaked(d: Mapping[str, Any]) -> str:
    seconds = d.get("soak_seconds")
    return f" after {duration(float(seconds))}" if isinstance(seconds, (int, float)) else ""


def _generic_phase(s: Subject, by: str, d: Mapping[str, Any]) -> str:
    return "The run moved on; the card shows where it is."


PhaseSentence = Callable[[Subject, str, Mapping[str, Any]], str]
_PHASE_SENTENCES: Mapping[Phase | None, PhaseSentence] = MappingProxyType({
    Phase.STARTING: lambda s, by, d: f"{by} approved the start: bringing up the {s.to_rev} "
    f"control plane next to {s.from_rev}.",
    Phase.CANARY_READY: lambda s, by, d: f":large_blue_circle: The {s.to_rev} control plane "
    f"is ready next to {s.from_rev}. Roll out the workloads with the button on the card.",
    Phase.ROLLING: lambda s, by, d: f"{by} approved the roll-out: restarting the workloads "
    f"onto {s.to_rev}, wave by wave.",
    Phase.VERIFYING: lambda s, by, d: f"Every wave rolled out onto {s.to_rev}. Soaking now: "
    "the checks come in this thread.",
    Phase.AWAITING_DECISION: lambda s, by, d: f":raised_hand: Soak over{_soaked(d)}. Complete "
    f"or roll back on the card; the last check above says how the workloads are.",
    Phase.COMPLETING: lambda s, by, d: f"{by} approved completing: removing the {s.from_rev} "
    "control plane.",
    Phase.ROLLING_BACK: lambda s, by, d: f"{by} approved the roll-back: moving the workloads "
    f"back to {s.from_rev}, then removing {s.to_rev}.",
    Phase.COMPLETED: lambda s, by, d: f":white_check_mark: Upgrade complete: {code(s.cluster)} "
    f"runs {s.to_rev} only.",
    Phase.ROLLED_BACK: lambda s, by, d: f":leftwards_arrow_with_hook: Rolled back: "
    f"{code(s.cluster)} runs {s.from_rev} again and {s.to_rev} is removed.",
    Phase.CANCELLED: lambda s, by, d: f":no_entry_sign: {by} cancelled the run.",
    Phase.FAILED: lambda s, by, d: f":rotating_light: The run failed: "
    f"{human(d.get('why') or 'see the card')}. A person must act; the card says how.",
    Phase.PATCH_RESTARTING: lambda s, by, d: f"{by} approved the restart: restarting the "
    f"workloads with outdated sidecars on {s.to_rev}.",
    Phase.PATCH_VERIFYING: lambda s, by, d: "Every outdated workload restarted; checking that "
    "every sidecar is current.",
    Phase.PATCH_DONE: lambda s, by, d: f":white_check_mark: Patch done: every sidecar on "
    f"{code(s.cluster)} runs the current proxy.",
})


def _window_wait(e: AuditEntry, s: Subject) -> Said:
    d = detail_of(e)
    opens = _parse_time(d.get("opens_at")) if d.get("opens_at") else None
    frozen = f" (frozen: {human(d['freeze'])})" if d.get("freeze") else ""
    when = f"it opens {slack_date(opens)}" if opens else \
        "no window opens within a year, so check the cluster's change windows"
    return Said(f":clock3: Waiting for the change window to run {human(d.get('what', 'a step'))}"
                f"{frozen}: {when}. Plans, checks and approvals go on meanwhile.",
                (f"change windows: {human(d['windows'])}",) if d.get("windows") else ())


def _window_overridden(e: AuditEntry, s: Subject) -> Said:
    reason = human(detail_of(e).get("reason") or "no reason given")
    return Said(f":rewind: {person(e.actor)} chose to roll back now, outside the change "
                f"window: “{reason}”")


def _parse_time(value: Any) -> datetime | None:
    try:
        at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


_SAYERS: Mapping[AuditKind, Sayer] = MappingProxyType({
    AuditKind.RUN_REQUESTED: _run_requested, AuditKind.REQUESTED: _requested,
    AuditKind.APPROVED: _approved, AuditKind.REFUSED: _refused, AuditKind.EXPIRED: _expired,
    AuditKind.RESUMED: _resumed, AuditKind.GATE_REFUSED: _gate_refused,
    AuditKind.PAUSED: _paused, AuditKind.PHASE_CHANGED: _phase_changed,
    AuditKind.ARM_PUT: _arm_put, AuditKind.ARM_SUCCEEDED: _arm_succeeded,
    AuditKind.ARM_FAILED: _arm_failed, AuditKind.CONFIG_COPIED: _config_copied,
    AuditKind.CONFIG_DELETED: _config_deleted, AuditKind.TAG_SET: _tag_set,
    AuditKind.TAG_REMOVED: _tag_removed, AuditKind.TAG_KEPT: _tag_kept,
    AuditKind.NAMESPACE_LABELLED: _namespace_labelled, AuditKind.WAVES_PLANNED: _waves_planned,
    AuditKind.RESTART_WAVE: _restart_wave, AuditKind.NOTE: _note,
    AuditKind.TRAFFIC_VERDICT: say_traffic_verdict,
    AuditKind.TRAFFIC_OVERRIDDEN: say_traffic_overridden,
    AuditKind.WINDOW_WAIT: _window_wait, AuditKind.WINDOW_OVERRIDDEN: _window_overridden,
})
