"""Button clicks on a run's card: ack at once, then decide on the bot's worker pool.

A click carries only run id, action and version. It changes the run only when that version is
still current, the action is possible in the run's phase, and the approval policy (membership
read now, failing closed) counts the clicker; everything else gets an ephemeral answer and
changes nothing. A click on a request that expired (by the requester or an approver) asks for
it again: the approval clock restarts and the click counts as nobody's approval; the card and
the thread said it had expired (handlers/jobs.py). Refusals are written to the audit. Clicks
on one run are decided one at a time in this process; across processes the store's version
check decides.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.runtime.services import Services
from bot.slack.blocks import when
from bot.slack.buttons import ACTION_IDS, InvalidButtonValue, decode_value, phase_label
from bot.slack.command_text import out_of_turn
from bot.slack.notifier import error_text
from bot.upgrade.approvals import (
    ApprovalPolicy,
    Decision,
    Verdict,
    evaluate,
    expires_at,
    may_ask_again,
)
from bot.upgrade.errors import GateRefused, StaleVersion
from bot.upgrade.phases import Action, allowed_actions
from bot.upgrade.records import Run

if TYPE_CHECKING:
    from slack_bolt import Ack, App

log = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    def handle_approve_action(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        services.submit(_response_url(body), handle_click, services, body)

    for aid in ACTION_IDS.values():
        app.action(aid)(handle_approve_action)


def _response_url(body: Any) -> str | None:
    url = body.get("response_url") if isinstance(body, dict) else None
    return url if isinstance(url, str) else None


def handle_click(s: Services, body: dict[str, Any]) -> None:
    url = _response_url(body)
    user = (body.get("user") or {}).get("id")
    actions = body.get("actions") or [{}]
    clicked = actions[0] if isinstance(actions[0], dict) else {}
    try:
        value = decode_value(str(clicked.get("value", "")), str(clicked.get("action_id", "")))
    except InvalidButtonValue as exc:
        log.warning("refused a click by %s: %s", user, exc)
        s.notifier.respond(url, ":no_entry: This button was not made by this bot (or it is "
                                "damaged), so nothing was done.")
        return
    if not isinstance(user, str) or not user:
        return
    s.notifier.respond(url, decide(s, value.run_id, value.action, value.version, user))


def decide(s: Services, run_id: int, action: Action, version: int, user: str) -> str:
    """What one approval click does; returns the ephemeral answer for the clicker."""
    run = s.store.get_run(run_id)
    policy = s.config.cluster(run.cluster).approval_policy(action)
    own_cancel = action is Action.CANCEL and user == run.requested_by
    groups = s.membership.groups_of(user, policy.groups) if policy.groups and not own_cancel \
        else frozenset()
    with s.run_locks(run_id):
        run = s.store.get_run(run_id)
        if run.version != version:
            return stale_text(s, run, action, version)
        if action not in allowed_actions(run.phase, run.kind):
            return out_of_turn(action, run.phase, run.kind, run.cluster)
        now = datetime.now(UTC)
        # A cancel is never asked for ahead (the click is the request): it cannot expire.
        asked = now if action is Action.CANCEL else s.notifier.requested_at(run, action)
        decision = None if own_cancel else evaluate(
            policy, run.requested_by, s.store.approvals(run_id, action.value, version), user,
            groups, now, requested_at=asked)
        if decision is not None and decision.verdict is Verdict.EXPIRED and \
                may_ask_again(policy, run.requested_by, user, groups):
            answer = _ask_again(s, run, action, user, policy)
        elif decision is not None and not decision.record and \
                decision.verdict is not Verdict.SATISFIED:
            return _refused(s, run, action, user, decision)
        else:
            answer = _apply(s, run, action, user, decision)
    s.driver.poke(run_id)
    s.notifier.sync(run_id)
    return answer


def _ask_again(s: Services, run: Run, action: Action, user: str, policy: ApprovalPolicy) -> str:
    """A click on an expired request asks for it again (the approval clock restarts) and
    counts as nobody's approval: approving something nobody confirmed lately needs a fresh
    click on the renewed request."""
    s.workflow.request(run.cluster, action, user)  # audited "requested <action>": the new start
    s.reschedule(run)
    until = expires_at(policy, s.notifier.requested_at(run, action))
    who = ("Approvers can approve it with the button on the card" if user == run.requested_by
           else "Click the button again to approve it")
    return (f":arrows_counterclockwise: The request to *{action.value}* had expired, so your "
            f"click asked for it again; it is open until {when(until)}. {who}.")


def _apply(s: Services, run: Run, action: Action, user: str, decision: Decision | None) -> str:
    satisfied = decision is None or decision.verdict is Verdict.SATISFIED
    try:
        after = s.workflow.approve(run.id, action, user, run.version, satisfied=satisfied)
    except StaleVersion:
        return stale_text(s, s.store.get_run(run.id), action, run.version)
    except GateRefused as exc:
        s.notifier.sync(run.id)
        return error_text(exc)
    if not satisfied and decision is not None:
        return f":ballot_box_with_check: {decision.message}"
    return (f":white_check_mark: *{action.value}* approved"
            f"{' by ' + ', '.join(f'<@{u}>' for u in decision.approvers) if decision else ''}"
            f". Run {run.id} is now *{phase_label(after.phase)}*.")


def _refused(s: Services, run: Run, action: Action, user: str, decision: Decision) -> str:
    if decision.verdict is not Verdict.ALREADY_APPROVED:
        s.store.audit(user, f"refused {action.value}: {decision.verdict.value}",
                      cluster=run.cluster, run_id=run.id,
                      detail={"run_version": run.version, "why": decision.message})
        s.notifier.sync(run.id)
    return f":no_entry: {decision.message} Nothing was done."


def stale_text(s: Services, run: Run, action: Action, version: int) -> str:
    """Why an old card's click does nothing: who already did it, or where the run is now."""
    done = s.store.approvals(run.id, action.value, version)
    if done:
        names = ", ".join(f"<@{a.user_id}> at {a.at:%H:%M} UTC" for a in done)
        return f":information_source: Already approved by {names}. Nothing was done."
    last = s.store.history(run.id)[-1]
    by = f" by <@{last.by}>" if last.by.startswith(("U", "W")) else ""
    return (f":information_source: This card is out of date: run {run.id} is now "
            f"*{phase_label(run.phase)}* (changed{by} at {last.at:%H:%M} UTC). "
            "Nothing was done; use the buttons on the current card.")
