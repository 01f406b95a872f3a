"""The work behind each `/mesh-upgrade` verb, run after the ack on the bot's worker pool.

Answers go to the person who asked (ephemeral, through response_url); what concerns a run
(its card, the plan, a check with its chart) goes to the run's thread. Reports too long for
Block Kit are shared as files. A command out of turn names the phase and what is possible.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.runtime.services import Services
from bot.slack.blocks import (
    Report,
    ReportSection,
    as_file,
    context,
    escape,
    fits_in_blocks,
    render_report,
    section,
)
from bot.slack.buttons import phase_label
from bot.slack.command_text import Command, Verb, out_of_turn
from bot.slack.reporting import post_check
from bot.slack.reports import (
    VersionsView,
    check_report,
    history_report,
    plan_report,
    sidecars_report,
    tags_report,
    versions_report,
)
from bot.slack.views import check_view, plan_view, sidecars_view, tags_view
from bot.upgrade.errors import GiveUp
from bot.upgrade.phases import Action, RunKind
from bot.upgrade.plan import Plan
from bot.upgrade.records import Run
from bot.workflow.approvals import ApprovalResult, Outcome
from handlers.actions import decide


@dataclass(frozen=True)
class Asker:
    user: str
    channel: str
    response_url: str | None


def _cluster(cmd: Command) -> str:
    if cmd.cluster is None:
        raise GiveUp("This command needs a cluster.", "See `/mesh-upgrade help`.")
    return cmd.cluster


def answer(s: Services, who: Asker, report: Report) -> None:
    """Ephemeral blocks when the report fits, else its summary and the whole file shared."""
    if fits_in_blocks(report.text):
        s.notifier.respond(who.response_url, report.title, render_report(report))
        return
    name, content = as_file(report)
    s.notifier.share_file(who.channel, name, content.encode(), report.title)
    s.notifier.respond(who.response_url, f"{report.title}: too long for a message, shared as "
                       f"the file `{name}`.", render_report(Report(report.title, report.summary)))


def status(s: Services, cmd: Command, who: Asker) -> None:
    names = [cmd.cluster] if cmd.cluster else [c.name for c in s.config.clusters]
    lines = []
    for name in names:
        run = s.store.active_run(name) or next(iter(s.store.recent_runs(name, 1)), None)
        if run is None:
            lines.append(f"• `{name}`: no upgrade run yet.")
            continue
        pause = f" · :warning: paused: {run.pause_reason}" if run.pause_reason else ""
        lines.append(f"• `{name}`: run {run.id} ({run.kind.value}) {run.from_rev} → "
                     f"{run.to_rev}: *{phase_label(run.phase)}*, requested by "
                     f"<@{run.requested_by}>{pause}")
    s.notifier.respond(who.response_url, "*Status*\n" + "\n".join(lines))


def overview(s: Services, cmd: Command, who: Asker) -> None:
    """`/mesh-upgrade` alone: the clusters this channel owns (all, if it owns none), each with
    its current run in words, and the three commands people need most."""
    owned = [c.name for c in s.config.clusters if c.channel == who.channel]
    names = owned or [c.name for c in s.config.clusters]
    runs = {name: s.store.active_run(name) for name in names}
    lines = [f"• `{name}`: {escape(_run_words(run))}" for name, run in runs.items()]
    first = names[0] if names else "&lt;cluster&gt;"
    head = "Clusters this channel owns" if owned else "Clusters this bot manages"
    commands = (f"`/mesh-upgrade plan {first}` shows what an upgrade would do · "
                f"`/mesh-upgrade start {first}` asks for one · "
                f"`/mesh-upgrade check {first}` checks health and sidecars now · "
                "`/mesh-upgrade help` lists every command")
    s.notifier.respond(who.response_url, f"{head}: " + "; ".join(
        f"{n}: {_run_words(run)}" for n, run in runs.items()),
        [section(f"*{head}*\n" + "\n".join(lines)), context(commands)])


def _run_words(run: Run | None) -> str:
    if run is None:
        return "no run"
    pause = f", paused: {run.pause_reason}" if run.pause_reason else ""
    what = "patch" if run.kind is RunKind.PATCH else f"upgrade {run.from_rev} → {run.to_rev}"
    return f"run {run.id} ({what}) is {phase_label(run.phase).lower()}{pause}"


def versions(s: Services, cmd: Command, who: Asker) -> None:
    name = _cluster(cmd)
    reads = s.workflow.reads
    state, options, census = reads.mesh_state(name), reads.upgrades(name), reads.census(name)
    base = versions_report(VersionsView(name, state.revisions, options.upgrades,
                                        state.kubernetes_version, dict(census.by_version),
                                        dict(census.injector_images)))
    compat = tuple(f"{r}: Kubernetes {', '.join(v) or 'unknown'}"
                   for r, v in sorted(options.compatible_with.items()))
    why = [options.reason] if options.reason else []
    if not options.supported:
        why.append(f"{options.current} is no longer supported here: move to the lowest "
                   "supported revision first.")
    extra = (ReportSection("Compatibility", compat), ReportSection("Why", tuple(why)))
    answer(s, who, replace(base, sections=base.sections + tuple(x for x in extra if x.lines)))


def plan(s: Services, cmd: Command, who: Asker) -> None:
    name = _cluster(cmd)
    offered = s.workflow.reads.upgrades(name).upgrades
    answer(s, who, plan_report(plan_view(s.workflow.plan(name, cmd.to_rev), offered)))


def start(s: Services, cmd: Command, who: Asker) -> None:
    name = _cluster(cmd)
    if _busy(s, who, Action.START, name):
        return
    offered = s.workflow.reads.upgrades(name).upgrades
    # `--no-tags` overrides the cluster's tags.use_tags for this run; without it, the config.
    run = s.workflow.request(name, Action.START, who.user, to=cmd.to_rev,
                             use_tags=None if cmd.use_tags else False)
    ref = s.notifier.sync(run.id)
    plan = Plan.from_json(run.plan)
    s.notifier.report(run.id, plan_report(plan_view(plan, offered)))
    s.driver.poke(run.id)
    how = "" if plan.use_tags else ", without revision tags (namespaces are relabelled)"
    s.notifier.respond(who.response_url, f":clipboard: Run {run.id} planned: {run.from_rev} → "
                       f"{run.to_rev} on `{name}`{how}. An approver starts it with the button "
                       f"on the card in <#{ref.channel}>; you cannot approve your own request.")


def _busy(s: Services, who: Asker, asked: Verb | Action, name: str) -> bool:
    """One run per cluster: if `name` has an active run, say so to the asker and be True."""
    active = s.store.active_run(name)
    if active is not None:
        s.notifier.respond(who.response_url, out_of_turn(asked, active.phase, active.kind, name,
                                                                active.paused))
    return active is not None


def check(s: Services, cmd: Command, who: Asker) -> None:
    name = _cluster(cmd)
    active = s.store.active_run(name)
    if active is not None and active.kind is RunKind.MINOR:
        post_check(s.workflow, s.notifier, active.id)
        s.notifier.sync(active.id)
        s.notifier.respond(who.response_url, f":mag: Check posted in run {active.id}'s thread.")
        return
    report, revision = s.workflow.reads.check(name)
    answer(s, who, check_report(check_view(name, (revision, revision), report)))


def sidecars(s: Services, cmd: Command, who: Asker) -> None:
    name = _cluster(cmd)
    census = s.workflow.reads.census(name, cmd.namespace)
    active = s.store.active_run(name)
    expected = active.to_rev if active is not None else None
    answer(s, who, sidecars_report(sidecars_view(name, census, expected, cmd.namespace)))


def tags(s: Services, cmd: Command, who: Asker) -> None:
    name = _cluster(cmd)
    view = tags_view(name, *s.workflow.reads.tags(name))
    answer(s, who, tags_report(view))


def ask_action(s: Services, cmd: Command, who: Asker) -> None:
    """`complete` / `rollback`: ask the approvers (the card's button carries the approval)."""
    name = _cluster(cmd)
    action = Action.COMPLETE if cmd.verb is Verb.COMPLETE else Action.ROLLBACK
    run = s.store.active_run(name)
    if run is None:
        raise GiveUp(f"`{name}` has no active run to {action.value}.",
                     f"`/mesh-upgrade status {name}` shows the last one.")
    if action not in run.actions():
        s.notifier.respond(who.response_url,
                           out_of_turn(action, run.phase, run.kind, name, run.paused))
        return
    s.workflow.request(name, action, who.user)
    ref = s.notifier.sync(run.id)
    s.notifier.respond(who.response_url, f":raised_hand: Asked for *{action.value}* on "
                       f"`{name}`: an approver clicks it on the card in <#{ref.channel}>.")


def override(s: Services, cmd: Command, who: Asker) -> None:
    """Go on past the traffic gate that holds the run, with a reason: the approver's override
    is audited and counts as their approval of the held action (Continue, or Complete)."""
    name = _cluster(cmd)
    cluster = s.config.cluster(name)
    wanted = sorted({g for a in (Action.ROLL, Action.COMPLETE)
                     for g in cluster.approval_policy(a).groups})
    groups = s.membership.groups_of(who.user, wanted) if wanted else frozenset()
    result = s.workflow.override(name, who.user, cmd.reason or "", groups)
    _reasoned(s, who, result, ":white_check_mark: Your override is recorded with its reason, "
                              f"and run {result.run.id} on `{name}` is now "
                              f"*{phase_label(result.run.phase)}*.")


def rollback_now(s: Services, cmd: Command, who: Asker) -> None:
    """Roll back outside the change window: the approver's reason is audited and is their
    approval of the rollback (or lets a rollback that waits for a window go on now)."""
    name = _cluster(cmd)
    policy = s.config.cluster(name).approval_policy(Action.ROLLBACK)
    groups = s.membership.groups_of(who.user, policy.groups) if policy.groups else frozenset()
    result = s.workflow.rollback_now(name, who.user, cmd.reason or "", groups)
    _reasoned(s, who, result, f":rewind: Rolling back `{name}` now, outside the change "
                              f"window; your reason is recorded. Run {result.run.id} is "
                              f"*{phase_label(result.run.phase)}*.")


def _reasoned(s: Services, who: Asker, result: ApprovalResult, applied: str) -> None:
    """The answer to an approval given with a reason (an override, a rollback now)."""
    s.driver.poke(result.run.id)
    s.notifier.sync(result.run.id)
    if result.outcome is Outcome.APPLIED:
        text = applied
    elif result.outcome is Outcome.COUNTED and result.decision is not None:
        text = (":ballot_box_with_check: Your reason is recorded and your approval counts. "
                f"{result.decision.message}")
    else:
        why = result.decision.message if result.decision else f"the run is {result.run.phase}"
        text = f":no_entry: {why} Nothing was done."
    s.notifier.respond(who.response_url, text)


def cancel(s: Services, cmd: Command, who: Asker) -> None:
    name = _cluster(cmd)
    run = s.store.active_run(name)
    if run is None:
        raise GiveUp(f"`{name}` has no active run to cancel.", "Nothing to do.")
    s.notifier.respond(who.response_url, decide(s, run.id, Action.CANCEL, run.version, who.user))


def patch(s: Services, cmd: Command, who: Asker) -> None:
    name = _cluster(cmd)
    if _busy(s, who, Verb.PATCH, name):
        return
    census = s.workflow.reads.census(name)
    report = sidecars_report(sidecars_view(name, census, None, None))
    if not census.drift:
        s.notifier.respond(who.response_url, f":white_check_mark: Every sidecar on `{name}` "
                           "runs its revision's current proxy; nothing to restart.")
        return
    run = s.workflow.request(name, Action.RESTART, who.user)
    drifted = sorted({str(p.workload) for p in census.drift})
    s.notifier.report(run.id, Report(f"Outdated sidecars · {name}", f"{len(census.drift)} "
                                     f"pod(s) in {len(drifted)} workload(s)",
                                     (ReportSection("Workloads", tuple(f"`{w}`" for w in
                                                                        drifted)),
                                      *report.sections[:1]), name))
    s.driver.poke(run.id)
    s.notifier.respond(who.response_url, f":arrows_counterclockwise: Patch run {run.id}: "
                       f"{len(drifted)} workload(s) to restart; an approver confirms on the card.")


def history(s: Services, cmd: Command, who: Asker) -> None:
    name = _cluster(cmd)
    runs = s.store.recent_runs(name, 20)
    audit = s.store.audit_log(cluster=name, limit=100_000)
    answer(s, who, history_report(name, runs, audit))
