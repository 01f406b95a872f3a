"""The scheduler's jobs, one routing table (`ROUTES`) from job names to functions.

A persisted job carries only its route and ids (run id, cluster); `register(services)` hands
the scheduler each function bound to the running bot's services. Each job guards against
posting twice: a check claims its time slot in the store, a reminder or an expiry notice only
speaks while its request (run version and the time it was asked for) is current and
unapproved.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.runtime.services import Services
from bot.slack.blocks import context, header, plain_date, render_report, section, when
from bot.slack.reporting import post_check
from bot.slack.reports import sidecars_report
from bot.slack.views import sidecars_view
from bot.slack.wording.phrases import duration
from bot.slack.wording.runs import ACTION_WORDS
from bot.upgrade.approvals import ApprovalPolicy, expires_at
from bot.upgrade.errors import MeshUpgradeError
from bot.upgrade.kinds import AuditKind
from bot.upgrade.phases import Action, Phase
from bot.upgrade.records import NewAuditEntry, Run
from bot.workflow.approvals import requested_at
from bot.workflow.fleet.records import FleetEvent

log = logging.getLogger(__name__)


def drive_runs(s: Services) -> None:
    s.driver.tick()
    s.pilot.tick()
    s.catch_up()


def check_run(s: Services, run_id: int) -> None:
    """A scheduled check: report, chart and card; once per interval slot, even after a crash."""
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
                         f"The scheduled check of {run.cluster} could not run")
    s.notifier.sync(run_id)


def remind_approval(s: Services, run_id: int, action: str, version: int,
                    asked: str | None = None) -> None:
    """Before a request expires: ping the approvers in the thread, if it still waits."""
    pending = _still_pending(s, run_id, action, version, asked)
    if pending is None:
        return
    run, policy, have = pending
    until = expires_at(policy, requested_at(s.store, run, Action(action)))
    who = ", ".join([f"<!subteam^{g}>" for g in policy.groups] +
                    [f"<@{u}>" for u in policy.users])
    words = ACTION_WORDS.get(action, action)
    left = policy.required - have
    s.notifier.reply(run_id, [section(
        f":alarm_clock: Reminder: {words} on `{run.cluster}` still needs "
        f"{left} approval{'s' if left != 1 else ''} from {who}. The request expires at "
        f"{when(until)}; use the buttons on the card.")],
        f"Reminder: {words} on {run.cluster} still needs {left} approval"
        f"{'s' if left != 1 else ''}, for {duration((until - datetime.now(UTC)).total_seconds())}"
        " more")


def expire_approval(s: Services, run_id: int, action: str, version: int, asked: str) -> None:
    """When a request expires unapproved: say so in the thread and on the card (whose button
    now asks for it again); once per request, even if the job runs twice."""
    pending = _still_pending(s, run_id, action, version, asked)
    if pending is None:
        return
    run, policy, _ = pending
    if not s.store.claim_step(run_id, f"slack.expired.{version}.{action}.{asked}", True):
        return
    until = expires_at(policy, datetime.fromisoformat(asked))
    # The audit entry is also the thread's reply (posted by the sync with the card's edit).
    s.workflow.record(run, NewAuditEntry(
        "bot", AuditKind.EXPIRED, f"expired: {action} was not approved by {plain_date(until)}; "
        "its button on the card now asks for it again",
        {"action": action, "run_version": version, "asked_at": asked,
         "until": until.isoformat()}))
    s.notifier.sync(run_id)


def _still_pending(s: Services, run_id: int, action: str, version: int, asked: str | None
                   ) -> tuple[Run, ApprovalPolicy, int] | None:
    """The run, policy and approvals so far, if the request `asked` still waits for people."""
    run = s.store.get_run(run_id)
    if run.version != version or Action(action) not in run.actions():
        return None
    if asked is not None and requested_at(s.store, run, Action(action)) != \
            datetime.fromisoformat(asked):
        return None  # asked for again since: that request has its own jobs
    policy = s.config.cluster(run.cluster).approval_policy(Action(action))
    have = len(s.store.approvals(run_id, action, version))
    return None if have >= policy.required else (run, policy, have)


def check_patch_drift(s: Services, cluster: str) -> None:
    """Daily: post only when some pods run a proxy older than their revision's injector."""
    census = s.workflow.reads.census(cluster)
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


def remind_promotion(s: Services, fleet_run_id: int, asked: str) -> None:
    """Before a promotion request expires: ping the fleet's approvers, if it still waits."""
    at = datetime.fromisoformat(asked)
    run = s.fleets.still_asked(fleet_run_id, at)
    if run is None:
        return
    until = expires_at(s.config.fleet(run.fleet).promotion.policy(), at)
    to = s.fleets.rings(run.fleet)[run.ring + 1].name
    if s.fleets.note_once(run, FleetEvent.REMINDED, f"reminder: promotion to {to} still needs "
                          f"approval; the request expires at {plain_date(until)}", at, ping=True):
        s.pilot.after_change(fleet_run_id, s.active)


def expire_promotion(s: Services, fleet_run_id: int, asked: str) -> None:
    """When a promotion request expires unapproved: say so in the thread and on the card."""
    at = datetime.fromisoformat(asked)
    run = s.fleets.still_asked(fleet_run_id, at)
    if run is None:
        return
    to = s.fleets.rings(run.fleet)[run.ring + 1].name
    if s.fleets.note_once(run, FleetEvent.EXPIRED, f"expired: promotion to {to} was not "
                          "approved in time; an approver's click on the card asks for it "
                          "again", at):
        s.pilot.after_change(fleet_run_id, s.active)


ROUTES: dict[str, Callable[..., None]] = {
    "drive_runs": drive_runs, "check_run": check_run, "remind_approval": remind_approval,
    "expire_approval": expire_approval, "check_patch_drift": check_patch_drift,
    "remind_promotion": remind_promotion, "expire_promotion": expire_promotion,
}


def register(services: Services) -> None:
    services.scheduler.route({name: functools.partial(job, services)
                              for name, job in ROUTES.items()})
