"""`/mesh-upgrade fleet ...` and the fleet card's buttons.

The plan is read and answered; start, pause, resume and cancel go to the fleet workflow, which
checks the person against the fleet's promotion policy (membership read now, failing closed)
and audits what they did. After each, the fleet is looked at once more and its card edited, so
the answer and the card agree.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.fleet.runs import FleetAction
from bot.runtime.services import Services
from bot.slack.command_text import Command
from bot.slack.fleet.card import ACTION_IDS, InvalidFleetButton, decode_value
from bot.slack.fleet.notifier import status_blocks
from bot.slack.fleet.plan import fleet_plan_report
from bot.workflow.fleet.records import FleetOutcome, FleetResult
from handlers.actions import NOT_OURS, Click
from handlers.answers import Asker, answer

if TYPE_CHECKING:
    from slack_bolt import Ack, App

log = logging.getLogger(__name__)
_ICONS = {FleetOutcome.APPLIED: ":white_check_mark:", FleetOutcome.COUNTED:
          ":ballot_box_with_check:", FleetOutcome.REFUSED: ":no_entry:",
          FleetOutcome.STALE: ":information_source:", FleetOutcome.OUT_OF_TURN: ":no_entry:"}


def command(s: Services, cmd: Command, who: Asker) -> None:
    name = cmd.fleet or ""
    s.config.fleet(name)  # an unknown fleet is an error that names the configured ones
    if cmd.fleet_action == "plan":
        answer(s, who, fleet_plan_report(s.fleets.plan(name, cmd.to_rev)))
        return
    if cmd.fleet_action == "start":
        run = s.fleets.start(name, who.user, cmd.to_rev)
        s.pilot.after_change(run.id, s.active)
        channel = s.config.fleet(name).channel
        s.notifier.respond(who.response_url, f":rocket: Fleet run {run.id} of `{name}` to "
                           f"*{run.target}* started; its card is in <#{channel}>. Each cluster "
                           "of the first ring gets its own card, where its approvers start it.")
        return
    if cmd.fleet_action == "status":  # the run under way, else the last one
        last = s.fleets.store.active(name) or next(iter(s.fleets.store.recent(name, 1)), None)
        if last is None:
            s.notifier.respond(who.response_url, f":information_source: Fleet `{name}` has "
                               f"had no run yet. `/mesh-upgrade fleet plan {name}` shows what "
                               "one would do.")
            return
        look = s.fleets.look(last.id)
        s.notifier.respond(who.response_url, f"Fleet {name}: {last.phase.value}",
                           status_blocks(look, s.pilot.notifier))
        return
    run = s.fleets.by_name(name)
    action = FleetAction(cmd.fleet_action or "")
    result = _act(s, run.id, action, who.user, None, cmd.reason or "")
    s.notifier.respond(who.response_url, _text(result))


def register(app: App, services: Services) -> None:
    def handle_fleet_button(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        services.submit(Click.of(body).response_url, click, services, body)

    for aid in ACTION_IDS.values():
        app.action(aid)(handle_fleet_button)


def click(s: Services, body: dict[str, Any]) -> None:
    clicked = Click.of(body)
    try:
        button = decode_value(clicked.value, clicked.action_id)
    except InvalidFleetButton as exc:
        log.warning("refused a fleet click by %s: %s", clicked.user, exc)
        s.notifier.respond(clicked.response_url, NOT_OURS)
        return
    if clicked.user is None:
        return
    result = _act(s, button.fleet_run_id, button.action, clicked.user, button.version)
    s.notifier.respond(clicked.response_url, _text(result))


def _act(s: Services, fleet_run_id: int, action: FleetAction, user: str,
         version: int | None, reason: str = "") -> FleetResult:
    """The action with the person's groups read now; then the fleet moves and its card too."""
    run = s.fleets.store.get(fleet_run_id)
    policy = s.config.fleet(run.fleet).promotion.policy()
    groups = s.membership.groups_of(user, policy.groups) if policy.groups else frozenset()
    result = s.fleets.act(fleet_run_id, action, user, version, groups, reason)
    s.pilot.after_change(fleet_run_id, s.active)
    return result


def _text(result: FleetResult) -> str:
    return f"{_ICONS[result.outcome]} {result.message}"

