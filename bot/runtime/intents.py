"""Commands acked before a restart: what became of them, told to the person who typed them.

The edge records every command that changes something before it acks (handlers/commands.py)
and marks it done once its work has answered. An intent still open at start was cut off by a
crash: the person is told whether it was carried out (the audit shows what they did since) or
not (run it again). With one replica any other replica's intent is an earlier process's; with
several, an intent is taken over only when it is older than ORPHANED_AFTER.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from bot.config.identity import replica_identity
from bot.config.settings import BotConfig
from bot.slack.blocks import when
from bot.slack.notifier import Notifier
from bot.store.repository import Store
from bot.upgrade.records import AuditEntry, Intent

log = logging.getLogger(__name__)
ORPHANED_AFTER = timedelta(minutes=2)


def recover_intents(store: Store, notifier: Notifier, config: BotConfig) -> int:
    """Answer every intent a dead process left open; returns how many were answered."""
    now, answered = datetime.now(UTC), 0
    for intent in store.open_intents():
        if intent.by == replica_identity():
            continue
        if config.leader_election.enabled and now - intent.at < ORPHANED_AFTER:
            continue  # another live replica may still be working on it
        if not store.finish_intent(intent.id):
            continue  # another replica answered it
        notifier.respond(intent.response_url, what_became_of(store, intent))
        log.info("intent %s (%s) of %s was cut off by a restart; answered", intent.id,
                 intent.text, intent.user_id)
        answered += 1
    return answered


def what_became_of(store: Store, intent: Intent) -> str:
    done = _done_since(store, intent)
    asked = f"`/mesh-upgrade {intent.text}` (at {when(intent.at)})"
    if done:
        return (f":information_source: The bot restarted while answering your {asked}; it was "
                f"carried out: {'; '.join(e.what for e in done[:3])}. The run's card shows where "
                "it is now.")
    return (f":warning: The bot restarted while working on your {asked}; it was not carried "
            "out and nothing was changed. Please run it again.")


def _done_since(store: Store, intent: Intent) -> list[AuditEntry]:
    if intent.cluster is None:
        return []
    return [e for e in store.audit_log(cluster=intent.cluster, limit=100_000)
            if e.actor == intent.user_id and e.at >= intent.at]
