"""Everything the bot says in Slack: the run's card, its thread, files, ephemeral answers.

One root message per run, edited in place with `chat.update` (its channel and ts live in the
store's slack_ref, so a restarted bot finds the same card and thread); every audit entry of the
run becomes one reply in that thread, in order; a Slack failure delays replies and loses none
(a cursor in the store moves only past posted replies). 429s are retried as
Slack says (`RateLimitErrorRetryHandler` sleeps in the calling thread: never call this from an
ack path). `not_in_channel` becomes an error that tells people to invite the bot. Replicas
share the store, so posting the card and each reply is claimed there first: the per-run lock
below only orders this process's threads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.webhook import WebhookClient

from bot.config.identity import replica_identity
from bot.config.settings import BotConfig
from bot.slack.blocks import (
    Report,
    as_file,
    fits_in_blocks,
    render_report,
    to_dicts,
)
from bot.slack.card import card_fallback_text, render_card
from bot.slack.client import retry_handlers
from bot.slack.views import (
    CardFacts,
    Need,
    approvals_from_audit,
    card_view,
    left_from_audit,
    traffic_line,
    wave_progress,
)
from bot.slack.wording.phrases import Subject
from bot.slack.wording.runs import reply_of
from bot.slack.wording.traffic import gate_when, traffic_verdict
from bot.store.repository import Store
from bot.traffic.verdicts import Outcome, Verdict
from bot.upgrade.approvals import expires_at
from bot.upgrade.errors import GiveUp, MeshUpgradeError
from bot.upgrade.phases import Action
from bot.upgrade.records import AuditEntry, Run, SlackRef
from bot.workflow.approvals import requested_at
from bot.workflow.locks import RunLocks

log = logging.getLogger(__name__)
FACTS_KEY, CURSOR_KEY = "slack.card_facts", "slack.audit_cursor"
CARD_CLAIM_KEY = "slack.card_claim"
CARD_CLAIM_WAIT = 10.0  # seconds another replica gets to post the card it claimed
REPLY_CLAIM_WAIT = 5.0  # seconds another replica gets to post a reply it claimed
CARD_EVENT = "mesh_upgrade_card"  # the card's message metadata: {"run_id", "nonce"}
CARD_SEARCH_PAGES = 3  # history pages of 100 searched for a card whose ts was not saved
CARD_SEARCH_SKEW = 300.0  # seconds: clock skew between the bot and Slack's message ts
_CHANNEL_ERRORS = frozenset({"not_in_channel", "channel_not_found", "is_archived"})


class NotInChannel(GiveUp):
    def __init__(self, channel: str, error: str) -> None:
        super().__init__(f"The bot cannot post in <#{channel}> ({error}).",
                         f"Invite it: type `/invite @meshbot` in <#{channel}>, then try again.")
        self.channel = channel


class Notifier:
    def __init__(self, client: WebClient, store: Store, config: BotConfig) -> None:
        self.client, self.store, self.config = client, store, config
        self._lock = RunLocks()
        self._shown: dict[int, str] = {}  # run id -> hash of the card last sent
        self.on_change: Callable[[int], None] | None = None  # bot/runtime/home_tabs.py

    # --- the card and the thread -----------------------------------------------------------

    def sync(self, run_id: int) -> SlackRef:
        """Post the run's card (or edit it), then its audit entries not yet in the thread."""
        with self._lock(run_id):
            ref = self._card(run_id)
            self._post_audit(run_id, ref)
        if self.on_change is not None:  # coalesced there: cheap to call on every sync
            self.on_change(run_id)
        return ref

    def _card(self, run_id: int) -> SlackRef:
        run = self.store.get_run(run_id)
        entries = self.store.audit_log(run_id=run_id)
        steps = self.store.steps(run_id)
        view = card_view(run, self.facts(run_id), approvals_from_audit(entries), self.needs(run),
                         wave_progress(run.phase, steps), left_from_audit(entries),
                         traffic_line(steps))
        blocks, text = to_dicts(render_card(view)), card_fallback_text(view)
        digest = hashlib.sha256(json.dumps([blocks, text]).encode()).hexdigest()
        ref = self.store.slack_ref(run_id)
        if ref is None:
            ref, posted = self._post_card(run, blocks, text)
            if posted:
                self._shown[run_id] = digest
                return ref
        if self._shown.get(run_id) != digest:
            self._shown.pop(run_id, None)  # a failed edit stays owed (see `owes`)
            self._call("chat_update", ref.channel, ts=ref.root_ts, blocks=blocks, text=text)
        self._shown[run_id] = digest
        return ref

    def _post_card(self, run: Run, blocks: list[dict[str, Any]], text: str
                   ) -> tuple[SlackRef, bool]:
        """The root card, posted once: whichever replica claims it first, and even across a
        crash between posting it and saving its ts. Returns (ref, posted by this call).

        The claim holds a nonce that the card carries in its message `metadata`. A claim
        without a saved ts means the card may already be in the channel (its poster died
        before saving the ts, or is about to save it): the recent history is searched for the
        nonce before anything is posted, and again after CARD_CLAIM_WAIT for a live claimer.
        History is read back only on this rare path (conversations.history is rate limited)."""
        mine = {"by": replica_identity(), "nonce": uuid.uuid4().hex,
                "at": datetime.now(UTC).isoformat()}
        claim = mine
        if not self.store.claim_step(run.id, CARD_CLAIM_KEY, mine):
            claim = self.store.step(run.id, CARD_CLAIM_KEY)
            found = self._adopt_card(run, claim) or self._wait_for_card(run, claim)
            if found is not None:
                return found, False
            log.warning("run %s: the card claimed by %s never came; posting it", run.id,
                        claim.get("by") if isinstance(claim, dict) else claim)
        channel = self.config.cluster(run.cluster).channel
        nonce = claim.get("nonce") if isinstance(claim, dict) else None
        marker = {"event_type": CARD_EVENT,
                  "event_payload": {"run_id": run.id, "nonce": nonce or mine["nonce"]}}
        posted = self._call("chat_postMessage", channel, blocks=blocks, text=text,
                            metadata=marker)
        return self.store.set_slack_ref(run.id, channel, posted["ts"], posted["ts"]), True

    def _wait_for_card(self, run: Run, claim: Any) -> SlackRef | None:
        deadline = time.monotonic() + CARD_CLAIM_WAIT
        while time.monotonic() < deadline:
            if (ref := self.store.slack_ref(run.id)) is not None:
                return ref
            time.sleep(0.1)
        return self._adopt_card(run, claim)

    def _adopt_card(self, run: Run, claim: Any) -> SlackRef | None:
        """The card of an earlier claim, if it is in the channel: its ts is saved now."""
        if (ref := self.store.slack_ref(run.id)) is not None:
            return ref
        if not isinstance(claim, dict) or not claim.get("nonce"):
            return None
        channel = self.config.cluster(run.cluster).channel
        ts = self._find_card(channel, run.id, claim)
        if ts is None:
            return None
        log.info("run %s: found its card %s, posted before a crash or by another replica",
                 run.id, ts)
        return self.store.set_slack_ref(run.id, channel, ts, ts)

    def _find_card(self, channel: str, run_id: int, claim: dict[str, Any]) -> str | None:
        """The ts of the card carrying the claim's nonce in its metadata, or None."""
        oldest = datetime.fromisoformat(claim["at"]).timestamp() - CARD_SEARCH_SKEW
        cursor = None
        try:
            for _ in range(CARD_SEARCH_PAGES):
                page = self.client.conversations_history(
                    channel=channel, oldest=f"{oldest:.6f}", limit=100, cursor=cursor,
                    include_all_metadata=True)
                for message in page.get("messages") or []:
                    meta = message.get("metadata") or {}
                    if meta.get("event_type") == CARD_EVENT and meta.get("event_payload") == \
                            {"run_id": run_id, "nonce": claim["nonce"]}:
                        return str(message["ts"])
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not page.get("has_more") or not cursor:
                    return None
        except SlackApiError as exc:  # e.g. no channels:history scope: a card beats none
            log.warning("run %s: cannot look for a card posted before a crash: %s",
                        run_id, exc.response.get("error"))
        return None

    def owes(self, run_id: int) -> bool:
        """Whether the run's thread, or its card as this process last sent it, may be behind
        the store (a reply or an edit that failed, or a process that restarted)."""
        if run_id not in self._shown:
            return True
        return self.store.last_audit_id(run_id) > int(self.store.step(run_id, CURSOR_KEY) or 0)

    def needs(self, run: Run) -> tuple[Need, ...]:
        """Approvals each allowed action has and needs at the run's current version."""
        cfg = self.config.cluster(run.cluster)
        now = datetime.now(UTC)
        out = []
        for action in sorted(run.actions(), key=list(Action).index):
            policy = cfg.approval_policy(action)
            have = len(self.store.approvals(run.id, action.value, run.version))
            until = expires_at(policy, requested_at(self.store, run, action))
            # A cancel is never asked for ahead: the click is the request, so it never expires.
            out.append(Need(action, have, policy.required, until,
                            until <= now and action is not Action.CANCEL))
        return tuple(out)

    def _post_audit(self, run_id: int, ref: SlackRef) -> None:
        """Each audit entry not yet in the thread, in order, at least once: the cursor moves
        only past replies that were posted. A reply is claimed before it is posted, so two
        replicas never post it both; a failed post gives the claim back (the next sync tries
        again), and a claim left by a poster that died is taken over: at once with a single
        replica (any other claimer was an earlier process), after REPLY_CLAIM_WAIT with several.
        A poster that died between posting and noting it leaves the reply to be posted again."""
        cursor = int(self.store.step(run_id, CURSOR_KEY) or 0)
        for entry in self.store.audit_log(run_id=run_id, limit=100_000):
            if entry.id <= cursor:
                continue
            if not self._reply_once(run_id, ref, entry) or \
                    not self._chart_once(run_id, ref, entry):
                return  # another replica is posting it: the next sync goes on from here
            self.store.put_step(run_id, CURSOR_KEY, entry.id)

    def _reply_once(self, run_id: int, ref: SlackRef, entry: AuditEntry) -> bool:
        """True once the entry's reply is in the thread (posted now or before)."""
        return self._once(run_id, f"slack.reply.{entry.id}", lambda: self._reply(
            ref, *reply_of(entry, Subject.of(self.store.get_run(run_id)))))

    def _chart_once(self, run_id: int, ref: SlackRef, entry: AuditEntry) -> bool:
        """A breached traffic verdict's chart, right below its reply: claimed like the reply,
        under its own key, so a failed upload is tried again and never shared twice."""
        verdict = traffic_verdict(entry)
        if verdict is None or verdict.outcome is not Outcome.BREACHED:
            return True
        return self._once(run_id, f"slack.chart.{entry.id}",
                          lambda: self._traffic_chart(ref, entry, verdict))

    def _once(self, run_id: int, key: str, post: Callable[[], object]) -> bool:
        """True once `post` has run under the claimed step `key` (now or before)."""
        now = time.time()
        mine = {"by": replica_identity(), "at": now}
        if not self.store.claim_step(run_id, key, mine):
            held = self.store.step(run_id, key)
            if held == "posted":
                return True
            if self._claim_alive(held, now):
                return False
            self.store.put_step(run_id, key, mine)  # its poster died: take it over
        try:
            post()
        except BaseException:
            self.store.release_step(run_id, key)  # owed: the next sync posts it
            raise
        self.store.put_step(run_id, key, "posted")
        return True

    def _traffic_chart(self, ref: SlackRef, entry: AuditEntry, verdict: Verdict) -> None:
        """Upload the chart; a file Slack refuses (no files:write, too big) is logged and
        left out: a missing picture must not hold up the thread's later replies."""
        # matplotlib loads at the first chart, not at start
        from bot.slack.charts.traffic import traffic_alt_text, traffic_chart

        label = gate_when(entry.detail)
        try:
            self._call("files_upload_v2", ref.channel, thread_ts=ref.thread_ts or ref.root_ts,
                       content=traffic_chart(verdict, label),
                       filename=f"traffic-{entry.cluster}-run{entry.run_id}-{entry.id}.png",
                       title=f"Traffic {label} · {entry.cluster}",
                       alt_txt=traffic_alt_text(verdict, label))
        except SlackApiError as exc:
            log.warning("run %s: the traffic chart was not shared: %s", entry.run_id,
                        exc.response.get("error"))

    def _claim_alive(self, held: Any, now: float) -> bool:
        """Whether another live replica may still be posting under this claim."""
        if not isinstance(held, dict) or held.get("by") == replica_identity():
            return False
        if not self.config.leader_election.enabled:
            return False  # one replica: whoever claimed it is gone
        return now - float(held.get("at", 0)) < REPLY_CLAIM_WAIT

    def reply(self, run_id: int, blocks: Sequence[Block], text: str) -> str:
        ref = self.sync(run_id)
        with self._lock(run_id):
            return self._reply(ref, blocks, text)

    def _reply(self, ref: SlackRef, blocks: Sequence[Block], text: str) -> str:
        posted = self._call("chat_postMessage", ref.channel, thread_ts=ref.thread_ts or ref.root_ts,
                            blocks=to_dicts(blocks), text=text[:3000])
        return str(posted["ts"])

    def report(self, run_id: int, report: Report) -> None:
        """A report in the thread: as blocks when it fits, else a summary and the file."""
        if fits_in_blocks(report.text):
            self.reply(run_id, render_report(report), report.title)
            return
        self.reply(run_id, render_report(Report(report.title, report.summary)), report.title)
        name, content = as_file(report)
        self.upload(run_id, name, content.encode(), report.title)

    def upload(self, run_id: int, filename: str, content: bytes, title: str,
               alt_text: str | None = None) -> None:
        """Share a file into the run's thread; an image gets `alt_text` for screen readers."""
        ref = self.sync(run_id)
        self._call("files_upload_v2", ref.channel, thread_ts=ref.thread_ts or ref.root_ts,
                   content=content, filename=filename, title=title, alt_txt=alt_text)

    def facts(self, run_id: int) -> CardFacts:
        return CardFacts.from_json(self.store.step(run_id, FACTS_KEY))

    def set_facts(self, run_id: int, facts: CardFacts) -> None:
        self.store.put_step(run_id, FACTS_KEY, facts.to_json())

    # --- outside a run ----------------------------------------------------------------------

    def publish_home(self, user: str, view: dict[str, Any]) -> None:
        """A person's App Home tab (views.publish: Tier 4, per workspace)."""
        self.client.views_publish(user_id=user, view=view)

    def permalink(self, ref: SlackRef) -> str:
        """The link to a run's card (chat.getPermalink)."""
        found = self.client.chat_getPermalink(channel=ref.channel, message_ts=ref.root_ts)
        return str(found["permalink"])

    def post(self, channel: str, blocks: Sequence[Block], text: str,
             thread_ts: str | None = None) -> str:
        """A message in `channel` (in the thread of `thread_ts`, if given); returns its ts."""
        extra = {"thread_ts": thread_ts} if thread_ts else {}
        return str(self._call("chat_postMessage", channel, blocks=to_dicts(blocks),
                              text=text[:3000], **extra)["ts"])

    def edit(self, channel: str, ts: str, blocks: Sequence[Block], text: str) -> None:
        self._call("chat_update", channel, ts=ts, blocks=to_dicts(blocks), text=text[:3000])

    def share_file(self, channel: str, filename: str, content: bytes, title: str) -> None:
        self._call("files_upload_v2", channel, content=content, filename=filename, title=title)

    @staticmethod
    def respond(response_url: str | None, text: str, blocks: Sequence[Block] = ()) -> None:
        """An ephemeral answer to the person who typed or clicked (Bolt's respond(), without
        Bolt). Used at most a few times per interaction: Slack allows 5 per response_url."""
        if not response_url:
            return
        hook = WebhookClient(response_url, timeout=15, retry_handlers=retry_handlers())
        try:
            hook.send(text=text[:3000], blocks=to_dicts(blocks) or None,
                      response_type="ephemeral", replace_original=False)
        except OSError as exc:
            log.warning("response_url answer failed: %s", exc)

    def _call(self, method: str, channel: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(channel=channel, **kwargs)
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            if error in _CHANNEL_ERRORS:
                raise NotInChannel(channel, error) from None
            raise


def answer_failure(response_url: str | None, what: str, error: BaseException) -> None:
    """A bug, not a MeshUpgradeError: the trace goes to the log under a fresh reference id, and
    the person is told only that id (nothing of the trace reaches Slack)."""
    reference = uuid.uuid4().hex[:10]
    log.error("reference %s: %s", reference, what, exc_info=error)
    Notifier.respond(response_url, f":x: Something went wrong on the bot's side (reference "
                     f"`{reference}`). The run's card and `/mesh-upgrade status` show what was "
                     "done; tell the bot's operators the reference.")


def error_text(exc: MeshUpgradeError) -> str:
    return f":warning: {exc.message}" + (f"\n{exc.hint}" if exc.hint else "")
