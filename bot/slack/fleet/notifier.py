"""The fleet card and its thread in the fleet's channel.

One card per fleet run, posted once (claimed in the store first, so one replica posts it) and
edited in place only when what it shows changed; every entry of the fleet's audit becomes one
reply in its thread, in order (a cursor in the store is moved before each reply is posted, so
two replicas never post the same one). The runs of clusters that are done never change again,
so their rows (phase, link, evidence) are read once and kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from datetime import timedelta

from slack_sdk.models.blocks import Block

from bot.config.settings import BotConfig
from bot.fleet.runs import FleetPhase, Member
from bot.slack.blocks import context, escape, section, to_dicts
from bot.slack.fleet.card import (
    FleetView,
    MemberView,
    fleet_fallback_text,
    render_fleet_card,
)
from bot.slack.notifier import Notifier
from bot.store.fleets import FleetAuditEntry
from bot.upgrade.phases import Phase, is_terminal
from bot.upgrade.records import Run
from bot.workflow.fleet.people import FleetWorkflow
from bot.workflow.fleet.records import Evidence, FleetEvent, FleetLook, evidence
from bot.workflow.locks import RunLocks

log = logging.getLogger(__name__)
CARD_CLAIM_WAIT = timedelta(seconds=30)  # another replica's claim older than this was lost
_EMOJI: dict[str, str] = {  # by FleetEvent (a str)
    FleetEvent.STARTED: ":rocket:", FleetEvent.CLUSTER_STARTED: ":clipboard:",
    FleetEvent.CLUSTER_WAITS: ":hourglass_flowing_sand:",
    FleetEvent.CLUSTER_DONE: ":white_check_mark:", FleetEvent.CLUSTER_STOPPED: ":octagonal_sign:",
    FleetEvent.SOAKING: ":hourglass:", FleetEvent.PROMOTION_ASKED: ":raised_hand:",
    FleetEvent.REMINDED: ":alarm_clock:", FleetEvent.EXPIRED: ":hourglass_flowing_sand:",
    FleetEvent.APPROVED: ":ballot_box_with_check:", FleetEvent.REFUSED: ":no_entry:",
    FleetEvent.PROMOTED: ":arrow_double_down:", FleetEvent.STOPPED: ":octagonal_sign:",
    FleetEvent.PAUSED: ":double_vertical_bar:", FleetEvent.RESUMED: ":arrow_forward:",
    FleetEvent.CANCELLED: ":no_entry_sign:", FleetEvent.COMPLETED: ":tada:",
}


class FleetNotifier:
    def __init__(self, notifier: Notifier, fleets: FleetWorkflow, config: BotConfig) -> None:
        self.notifier, self.fleets, self.config = notifier, fleets, config
        self._locks = RunLocks()
        self._shown: dict[int, str] = {}  # fleet run id -> digest of the card last sent
        self._done: dict[int, tuple[Run, Evidence | None]] = {}  # finished cluster runs
        self._links: dict[int, str] = {}  # cluster run id -> its card's permalink
        self._guard = threading.Lock()

    def sync(self, look: FleetLook) -> None:
        """Post or edit the fleet card as `look` shows it, then the thread's new replies."""
        with self._locks(look.run.id):
            ts = self._card(look)
            if ts:
                self._replies(look.run.id, ts)

    def _card(self, look: FleetLook) -> str:
        view = self.view(look)
        blocks, text = render_fleet_card(view), fleet_fallback_text(view)
        digest = hashlib.sha256(json.dumps([to_dicts(blocks), text]).encode()).hexdigest()
        run = look.run
        slack = self.fleets.store.slack(run.id)
        channel = self.config.fleet(run.fleet).channel
        if slack is None or (not slack.root_ts and
                             self.fleets.now() - slack.claimed_at > CARD_CLAIM_WAIT):
            if slack is None and not self.fleets.store.claim_card(run.id, channel):
                return ""  # another replica posts it
            ts = self.notifier.post(channel, blocks, text)
            self.fleets.store.set_card(run.id, ts)
            self._shown[run.id] = digest
            return ts
        if not slack.root_ts:
            return ""
        if self._shown.get(run.id) != digest:
            self._shown.pop(run.id, None)
            self.notifier.edit(slack.channel, slack.root_ts, blocks, text)
            self._shown[run.id] = digest
        return slack.root_ts

    def _replies(self, fleet_run_id: int, ts: str) -> None:
        slack = self.fleets.store.slack(fleet_run_id)
        if slack is None:
            return
        cursor = slack.cursor
        for entry in self.fleets.store.audit_log(fleet_run_id, after=cursor):
            if not self.fleets.store.move_cursor(fleet_run_id, cursor, entry.id):
                return  # another replica posts this thread's replies now
            try:
                self.notifier.post(slack.channel, [section(_reply(entry))],
                                   _plain(entry), thread_ts=ts)
            except Exception:
                self.fleets.store.move_cursor(fleet_run_id, entry.id, cursor)  # owed again
                raise
            cursor = entry.id

    def view(self, look: FleetLook) -> FleetView:
        run = look.run
        config = self.config.fleet(run.fleet)
        members = tuple(self._member(m, look) for m in look.members)
        approvals: tuple[str, ...] = ()
        if run.phase is FleetPhase.AWAITING_PROMOTION and run.asked_at is not None:
            approvals = tuple(a.user_id for a in
                              self.fleets.store.approvals(run.id, run.ring + 1, run.asked_at))
        return FleetView(run, self.fleets.rings(run.fleet), members, config.promotion.policy(),
                         approvals, self.fleets.now())

    def _member(self, m: Member, look: FleetLook) -> MemberView:
        if m.run_id is None:
            return MemberView(m, None, None, None)
        run, proof = look.runs.get(m.run_id), None
        if run is None:
            run, proof = self._finished(m.run_id)
        return MemberView(m, run, self._link(m.run_id), proof)

    def _finished(self, run_id: int) -> tuple[Run, Evidence | None]:
        with self._guard:
            kept = self._done.get(run_id)
        if kept is not None:
            return kept
        run = self.fleets.workflow.store.get_run(run_id)
        found = (run, evidence(self.fleets.workflow.store, run)
                 if run.phase is Phase.COMPLETED else None)
        if is_terminal(run.phase):
            with self._guard:
                self._done[run_id] = found
        return found

    def _link(self, run_id: int) -> str | None:
        with self._guard:
            if run_id in self._links:
                return self._links[run_id]
        ref = self.fleets.workflow.store.slack_ref(run_id)
        if ref is None:
            return None
        try:
            link = self.notifier.permalink(ref)
        except Exception as exc:  # the row shows the name without a link until next time
            log.warning("run %s: no permalink for the fleet card: %s", run_id, exc)
            return None
        with self._guard:
            self._links[run_id] = link
        return link


def _reply(entry: FleetAuditEntry) -> str:
    who = "The bot" if entry.actor == "bot" else f"<@{entry.actor}>"
    emoji = _EMOJI.get(entry.kind, ":memo:")
    approvers = entry.detail.get("approvers") or []
    by = f" (approved by {', '.join(f'<@{u}>' for u in approvers)})" if approvers else ""
    ping = [f"<!subteam^{g}>" for g in entry.detail.get("groups") or []] + \
        [f"<@{u}>" for u in entry.detail.get("users") or []]  # IDs the configuration checked
    cc = f" {' '.join(ping)}" if ping else ""
    return f"{emoji} {who}: {escape(entry.what)}{by}{cc}"  # `what` may hold a person's reason


def _plain(entry: FleetAuditEntry) -> str:
    who = "bot" if entry.actor == "bot" else entry.actor
    return f"{who}: {entry.what}"


def status_blocks(look: FleetLook, notifier: FleetNotifier) -> list[Block]:
    """The fleet card's content for `/mesh-upgrade fleet status` (no buttons)."""
    blocks = render_fleet_card(notifier.view(look))
    slack = notifier.fleets.store.slack(look.run.id)
    where = f"The fleet card is in <#{slack.channel}>." if slack else ""
    return [b for b in blocks if b.type != "actions"] + ([context(where)] if where else [])
