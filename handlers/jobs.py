"""The scheduler's jobs (APScheduler 3.x calls them by their text reference, `handlers.jobs:x`).

A persisted job carries only ids (run id, cluster), so the functions here find the running
bot through `bind(services)`, done once at start. Each job guards against posting twice: a
check claims its time slot in the store, a reminder only speaks while its version is current.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from bot.blocks import context, header, render_report, section
from bot.blocks_reports import sidecars_report
from bot.errors import MeshUpgradeError
from bot.reporting import post_check
from bot.runtime import Services
from bot.upgrade import Action, Phase
from bot.views import sidecars_view

log = logging.getLogger(__name__)
_bound: list[Services] = []


def bind(services: Services) -> None:
    _bound[:] = [services]


def unbind(services: Services) -> None:
    if _bound and _bound[0] is services:
        _bound.clear()


def _services() -> Services | None:
    return _bound[0] if _bound else None


def drive_runs() -> None:
    s = _services()
    if s is not None:
        s.driver.tick()


def check_run(run_id: int) -> None:
    """A scheduled check: report, chart and card; once per interval slot, even after a crash."""
    s = _services()
    if s is None:
        return
    run = s.store.get_run(run_id)
    if run.phase not in (Phase.VERIFYING, Phase.AWAITING_DECISION):
        s.scheduler.reconcile(run)
        return
    every = s.scheduler.check_interval(run.cluster)
    slot = int(time.time() // max(every, 0.001))
    if not s.store.claim_step(run_id, f"slack.check.{slot}", datetime.now(UTC).isoformat()):
        return
    try:
        post_check(s.workflow, s.notifier, run_id,
                   datetime.now(UTC) + timedelta(seconds=every))
    except MeshUpgradeError as exc:
        s.notifier.reply(run_id, [section(f":warning: The check could not run: {exc}")],
                         "check failed to run")
    s.notifier.sync(run_id)


def remind_approval(run_id: int, action: str, version: int) -> None:
    s = _services()
    if s is None:
        return
    run = s.store.get_run(run_id)
    if run.version != version:
        return
    policy = s.config.cluster(run.cluster).approval_policy(Action(action))
    have = len(s.store.approvals(run_id, action, version))
    if have >= policy.required:
        return
    who = ", ".join([f"<!subteam^{g}>" for g in policy.groups] +
                    [f"<@{u}>" for u in policy.users])
    s.notifier.reply(run_id, [section(
        f":alarm_clock: Reminder: *{action}* on {run.cluster} still needs "
        f"{policy.required - have} approval(s) from {who}. The request expires soon; "
        "use the buttons on the card.")], f"Reminder: {action} needs approval")


def check_patch_drift(cluster: str) -> None:
    """Daily: post only when some pods run a proxy older than their revision's injector."""
    s = _services()
    if s is None:
        return
    census = s.workflow.adapters(cluster).cluster.census.take()
    if not census.drift:
        log.info("patch drift %s: every sidecar is current", cluster)
        return
    outdated = sorted({str(p.workload) for p in census.drift})
    report = sidecars_report(sidecars_view(cluster, census, None, None))
    channel = s.config.cluster(cluster).channel
    blocks = [header(f"Outdated sidecars on {cluster}"),
              section(f":warning: {len(census.drift)} pod(s) in {len(outdated)} workload(s) run "
                      "an older proxy than their revision's injector gives new pods: "
                      + ", ".join(f"`{w}`" for w in outdated[:20])),
              context(f"`/mesh-upgrade patch {cluster}` offers to restart them (with approval)."),
              *render_report(report)[1:3]]
    s.notifier.post(channel, blocks, f"Outdated sidecars on {cluster}")
