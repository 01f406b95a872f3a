"""Checks and cluster facts for the run's card and thread (called from worker threads only).

A check posts the report (blocks, or a file when too long), the census chart as a PNG through
files_upload_v2, and refreshes what the card shows; a failed check also posts a loud message
with a Roll back button. The census history for the chart's "over the run" side is kept in the
store, so a restarted bot draws the same line.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ConfirmObject

from bot.slack.blocks import clip, context, header, section
from bot.slack.buttons import action_id, encode_value
from bot.slack.notifier import Notifier
from bot.slack.reports import check_report
from bot.slack.views import (
    CardFacts,
    card_notes,
    census_notes,
    check_failed,
    check_view,
    plane_status,
)
from bot.upgrade.phases import Action, Phase
from bot.upgrade.records import Run
from bot.workflow.checks import CheckReport, tally_check
from bot.workflow.runner import Workflow

HISTORY_KEY = "slack.census_history"
HISTORY_POINTS = 200


def refresh_facts(workflow: Workflow, notifier: Notifier, run: Run, census: bool) -> None:
    """Read both control planes (and the census if asked) into the card's facts."""
    reads = workflow.reads
    planes = tuple(plane_status(reads.control_plane(run.cluster, r)) for r in _revisions(run))
    old = notifier.facts(run.id)
    by_revision, by_version, modes, notes = old.by_revision, old.by_version, old.modes, old.notes
    if census:
        taken = reads.census(run.cluster)
        by_revision, by_version = dict(taken.by_revision), dict(taken.by_version)
        modes = {r: dict(m) for r, m in taken.modes.items()}
        jobs, finished = census_notes(taken, run)
        notes = (*jobs, *finished)
    notifier.set_facts(run.id, CardFacts(planes, by_revision, by_version, old.next_check_at,
                                         modes, notes))


def _revisions(run: Run) -> tuple[str, ...]:
    """Both revisions while a canary runs; at the end only the one that stayed."""
    if run.phase is Phase.COMPLETED:
        return (run.to_rev,)
    if run.phase in (Phase.ROLLED_BACK, Phase.PLANNED, Phase.CANCELLED):
        return (run.from_rev,)
    return tuple(dict.fromkeys((run.from_rev, run.to_rev)))


def post_check(workflow: Workflow, notifier: Notifier, run_id: int,
               next_check_at: datetime | None = None) -> CheckReport:
    # matplotlib loads at the first check, not at start
    from bot.slack.charts.census import census_alt_text, census_chart

    run = workflow.store.get_run(run_id)
    report = workflow.check(run_id)
    view = check_view(run.cluster, (run.from_rev, run.to_rev), report)
    history = _remember(workflow, run_id, report)
    notifier.set_facts(run_id, CardFacts(view.planes, view.census_by_revision,
                                         view.census_by_version,
                                         next_check_at.isoformat() if next_check_at else None,
                                         view.census_modes, card_notes(report, run)))
    notifier.report(run_id, check_report(view))
    chart = census_chart(report.census.by_namespace, history)
    stamp = report.at.strftime("%Y%m%d-%H%M%S")
    notifier.upload(run_id, f"census-{run.cluster}-run{run_id}-{stamp}.png", chart,
                    f"Sidecar census · {run.cluster} · {report.at:%H:%M:%S} UTC",
                    census_alt_text(report.census.by_namespace, history))
    if check_failed(report):
        notifier.reply(run_id, loud_failure(run, report), f"Check failed on {run.cluster}")
    tally_check(workflow.store, run_id, check_failed(report))
    return report


def _remember(workflow: Workflow, run_id: int, report: CheckReport
              ) -> list[tuple[datetime, dict[str, int]]]:
    stored: list[Any] = list(workflow.store.step(run_id, HISTORY_KEY) or [])
    stored.append([report.at.isoformat(), dict(report.census.by_revision)])
    stored = stored[-HISTORY_POINTS:]
    workflow.store.put_step(run_id, HISTORY_KEY, stored)
    return [(datetime.fromisoformat(at).astimezone(UTC), counts) for at, counts in stored]


def loud_failure(run: Run, report: CheckReport) -> list[Block]:
    problems = [f"• `{w.workload}`: {w.available}/{w.desired} available"
                + (f", CrashLoopBackOff {', '.join(w.crashlooping[:3])}" if w.crashlooping else "")
                for w in report.verdict.blocking[:15]]
    problems += [f"• control plane {p.revision} is not ready" for p in report.planes
                 if not p.ready]
    blocks: list[Block] = [
        header(f":rotating_light: Check failed on {run.cluster}"),
        section(clip("<!here> " + "\n".join(problems), 2900)),
    ]
    if Action.ROLLBACK in run.actions():
        blocks.append(section("Roll back now, or fix the workloads and wait for the next check."))
        blocks.append(ActionsBlock(block_id=f"check-{run.id}-v{run.version}",
                                   elements=[rollback_button(run)]))
    blocks.append(context(f"Run {run.id} · {report.at:%Y-%m-%d %H:%M UTC}"))
    return blocks


def rollback_button(run: Run) -> ButtonElement:
    return ButtonElement(
        text="Roll back", action_id=action_id(Action.ROLLBACK), style="danger",
        value=encode_value(run.id, Action.ROLLBACK, run.version),
        confirm=ConfirmObject(title=clip(f"Roll back {run.cluster}?", 100),
                              text=clip(f"Workloads go back to {run.from_rev} and restart, then "
                                        f"the {run.to_rev} control plane is removed.", 300),
                              confirm="Roll back", deny="Keep going", style="danger"))
