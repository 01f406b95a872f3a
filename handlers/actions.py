"""Button clicks on a run's card: ack at once, then decide on the bot's worker pool.

A click carries only run id, action and version. It changes the run only when that version is
still current, the action is possible in the run's phase, and the approval policy (membership
read now, failing closed) counts the clicker; everything else gets an ephemeral answer and
changes nothing. The workflow decides (bot/workflow/approvals.py, with the membership read
here at click time); this module only phrases the answer. A click on a request that expired
asks for it again; the card and the thread said it had expired (handlers/jobs.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.runtime.services import Services
from bot.slack.blocks import when
from bot.slack.buttons import ACTION_IDS, InvalidButtonValue, decode_value, phase_label
from bot.slack.command_text import out_of_turn
from bot.slack.notifier import error_text
from bot.upgrade.approvals import ApprovalPolicy, expires_at
from bot.upgrade.errors import GateRefused, RetryLater, TrafficHeld
from bot.upgrade.phases import Action
from bot.upgrade.records import Run
from bot.workflow.approvals import ApprovalResult, Outcome, requested_at

if TYPE_CHECKING:
    from slack_bolt import Ack, App

log = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    def handle_approve_action(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        services.submit(_response_url(body), handle_click, services, body)

    for aid in ACTION_IDS.values():
        app.action(aid)(handle_approve_action)


NOT_OURS = (":no_entry: This button was not made by this bot (or it is damaged), so nothing "
            "was done.")


def _response_url(body: Any) -> str | None:
    url = body.get("response_url") if isinstance(body, dict) else None
    return url if isinstance(url, str) else None


@dataclass(frozen=True)
class Click:
    """What a block_actions body says, whatever shape Slack (or anyone) sent: where to answer,
    who clicked (None: nobody to answer for), and the first action's id and value."""

    response_url: str | None
    user: str | None
    action_id: object
    value: object

    @classmethod
    def of(cls, body: dict[str, Any]) -> Click:
        user = (body.get("user") or {}).get("id")
        actions = body.get("actions") or [{}]
        clicked = actions[0] if isinstance(actions[0], dict) else {}
        return cls(_response_url(body), user if isinstance(user, str) and user else None,
                   clicked.get("action_id"), clicked.get("value"))


def handle_click(s: Services, body: dict[str, Any]) -> None:
    click = Click.of(body)
    try:
        value = decode_value(str(click.value or ""), str(click.action_id or ""))
    except InvalidButtonValue as exc:
        log.warning("refused a click by %s: %s", click.user, exc)
        s.notifier.respond(click.response_url, NOT_OURS)
        return
    if click.user is None:
        return
    s.notifier.respond(click.response_url,
                       decide(s, value.run_id, value.action, value.version, click.user))


def decide(s: Services, run_id: int, action: Action, version: int, user: str) -> str:
    """What one approval click does; returns the ephemeral answer for the clicker. The
    clicker's groups are read now (failing closed); the workflow decides."""
    run = s.store.get_run(run_id)
    policy = s.config.cluster(run.cluster).approval_policy(action)
    groups = s.membership.groups_of(user, policy.groups) if policy.groups else frozenset()
    try:
        result = s.workflow.decide(run_id, action, user, version, groups)
    except (GateRefused, TrafficHeld) as exc:
        s.notifier.sync(run_id)
        return error_text(exc)
    except RetryLater as exc:  # the gate could not be judged: nothing was recorded
        return (f":warning: Could not check the cluster before *{action.value}*: "
                f"{exc.message}\nYour approval was not recorded and nothing changed; click "
                f"again in about {exc.delay_seconds:g} s.")
    if result.outcome is Outcome.ASKED_AGAIN:
        s.reschedule(result.run)
    s.driver.poke(run_id)
    answer = _answer(s, result, action, version, user, policy)
    try:
        s.notifier.sync(run_id)
    except Exception as exc:  # the decision is committed; only the card and thread lag
        log.warning("run %s: card not updated after a click: %s", run_id, exc)
        return f"{answer}\n_The card could not be updated just now; it will catch up._"
    return answer


def _answer(s: Services, result: ApprovalResult, action: Action, version: int, user: str,
            policy: ApprovalPolicy) -> str:
    run, decision = result.run, result.decision
    if result.outcome is Outcome.STALE:
        return stale_text(s, run, action, version, user)
    if result.outcome is Outcome.OUT_OF_TURN:
        return out_of_turn(action, run.phase, run.kind, run.cluster, run.paused)
    if result.outcome is Outcome.ASKED_AGAIN:
        until = expires_at(policy, requested_at(s.store, run, action))
        who = ("Approvers can approve it with the button on the card"
               if user == run.requested_by else "Click the button again to approve it")
        return (f":arrows_counterclockwise: The request to *{action.value}* had expired, so "
                f"your click asked for it again; it is open until {when(until)}. {who}.")
    if result.outcome is Outcome.REFUSED and decision is not None:
        return f":no_entry: {decision.message} Nothing was done."
    if result.outcome is Outcome.COUNTED and decision is not None:
        return f":ballot_box_with_check: {decision.message}"
    by = f" by {', '.join(f'<@{u}>' for u in decision.approvers)}" if decision else ""
    return (f":white_check_mark: *{action.value}* approved{by}. Run {run.id} is now "
            f"*{phase_label(run.phase)}*.")


def stale_text(s: Services, run: Run, action: Action, version: int, user: str) -> str:
    """Why an old card's click does nothing: who already did it, or where the run is now. The
    clicker's own earlier approval (a double click, or Slack delivering a click again after a
    lost ack) is confirmed as done, never answered as if nothing had happened."""
    done = s.store.approvals(run.id, action.value, version)
    mine = next((a for a in done if a.user_id == user), None)
    if mine is not None:
        return (f":white_check_mark: Your approval of *{action.value}* (at {mine.at:%H:%M} UTC) "
                f"is recorded; run {run.id} is now *{phase_label(run.phase)}*. This click "
                "changed nothing more.")
    if done:
        names = ", ".join(f"<@{a.user_id}> at {a.at:%H:%M} UTC" for a in done)
        return f":information_source: Already approved by {names}. Nothing was done."
    last = s.store.history(run.id)[-1]
    by = f" by <@{last.by}>" if last.by.startswith(("U", "W")) else ""
    return (f":information_source: This card is out of date: run {run.id} is now "
            f"*{phase_label(run.phase)}* (changed{by} at {last.at:%H:%M} UTC). "
            "Nothing was done; use the buttons on the current card.")
