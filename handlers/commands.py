"""`/mesh-upgrade`: parse, ack within Slack's 3 s, and hand the work to the bot's workers.

The ack carries only what needs no I/O (help, the cluster list, a parse error with the right
usage); everything that reads a cluster, ARM or the store runs after the ack on the worker pool
and answers through response_url (handlers/answers.py). Parsing never raises, whatever Slack
sends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.config.identity import replica_identity
from bot.runtime.services import Services
from bot.slack.blocks import render_help
from bot.slack.command_text import Command, ParseError, Verb, parse
from handlers import answers, fleet
from handlers.answers import Asker

if TYPE_CHECKING:
    from slack_bolt import Ack, App

log = logging.getLogger(__name__)
COMMAND = "/mesh-upgrade"
Work = Callable[[Services, Command, Asker], None]

WORK: dict[Verb, Work] = {
    Verb.STATUS: answers.status, Verb.VERSIONS: answers.versions, Verb.PLAN: answers.plan,
    Verb.START: answers.start, Verb.CHECK: answers.check, Verb.SIDECARS: answers.sidecars,
    Verb.TAGS: answers.tags, Verb.COMPLETE: answers.ask_action,
    Verb.ROLLBACK: answers.ask_action, Verb.CANCEL: answers.cancel, Verb.PATCH: answers.patch,
    Verb.HISTORY: answers.history, Verb.OVERRIDE: answers.override,
    Verb.ROLLBACK_NOW: answers.rollback_now, Verb.FLEET: fleet.command,
}
# Commands that change something: recorded before the ack (bot/runtime/intents.py).
_CHANGES = frozenset({Verb.START, Verb.PATCH, Verb.COMPLETE, Verb.ROLLBACK, Verb.CANCEL,
                      Verb.OVERRIDE, Verb.ROLLBACK_NOW, Verb.FLEET})
_SLOW = frozenset({Verb.VERSIONS, Verb.PLAN, Verb.START, Verb.CHECK, Verb.SIDECARS, Verb.PATCH,
                   Verb.FLEET})


def register(app: App, services: Services) -> None:
    def handle_mesh_upgrade_command(ack: Ack, command: dict[str, Any]) -> None:
        answer_command(services, ack, command)

    app.command(COMMAND)(handle_mesh_upgrade_command)


def answer_command(s: Services, ack: Ack, payload: dict[str, Any]) -> None:
    known = [c.name for c in s.config.clusters]
    text = payload.get("text")
    parsed = parse(text if isinstance(text, str) else "", known)
    if isinstance(parsed, ParseError):
        ack(text=parsed.text)
        return
    if parsed.verb is Verb.HELP and not str(text or "").strip():
        ack()  # no arguments: the channel's clusters at a glance, read after the ack
        asker = _asker(payload)
        s.submit(asker.response_url, answers.overview, s, parsed, asker)
        return
    if parsed.verb is Verb.HELP:
        ack(text="How to use /mesh-upgrade: every command and what it does",
            blocks=render_help(parsed.topic))
        return
    if parsed.verb is Verb.CLUSTERS:
        ack(text=clusters_text(s))
        return
    asker = _asker(payload)
    intent = None
    if parsed.verb in _CHANGES:  # durable before the ack: a crash cannot lose it silently
        try:
            intent = s.store.record_intent(asker.user, str(text), parsed.cluster,
                                           asker.response_url, replica_identity())
        except Exception as exc:
            log.warning("could not record a command before acking it: %s", exc)
            ack(text=":warning: The bot could not record this command (its database did not "
                     "answer), so nothing was done. Please try again in a minute.")
            return
    if parsed.verb in _SLOW:
        if parsed.fleet:
            ack(text=f":hourglass_flowing_sand: `fleet {parsed.fleet_action}` on fleet "
                     f"`{parsed.fleet}`: looking at its clusters…")
        else:
            ack(text=f":hourglass_flowing_sand: `{parsed.verb.value}` on `{parsed.cluster}`: "
                     "looking at the cluster…")
    else:
        ack()
    s.submit(asker.response_url, _carry_out, s, parsed, asker, intent)


def _asker(payload: dict[str, Any]) -> Asker:
    url = payload.get("response_url")
    return Asker(str(payload.get("user_id", "")), str(payload.get("channel_id", "")),
                 url if isinstance(url, str) else None)


def _carry_out(s: Services, cmd: Command, who: Asker, intent: int | None) -> None:
    """The command's work; its intent is done once it answered (or failed with an answer)."""
    try:
        WORK[cmd.verb](s, cmd, who)
    finally:
        if intent is not None:
            s.store.finish_intent(intent)


def clusters_text(s: Services) -> str:
    lines = [f"• `{c.name}`: AKS `{c.cluster_name}` in `{c.resource_group}`, posts to "
             f"<#{c.channel}>" for c in s.config.clusters]
    return "*Clusters this bot manages*\n" + "\n".join(lines)
