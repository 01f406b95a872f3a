"""Publishing each person's App Home (views.publish, through the notifier) when they open it
and when runs change; the view itself is built by bot/slack/home.py.

Opening the tab publishes at once (after the ack, on the bot's workers). A run changing
republishes the tabs of people who opened Home in the last VIEWERS_FOR seconds, coalesced:
changes within DEBOUNCE seconds become one publish per person. views.publish is Tier 4 (100+
per minute per workspace, api.slack.com/methods/views.publish); at most MAX_VIEWERS tabs are
republished per change, and 429s are retried by the client's RateLimitErrorRetryHandler.
Cluster facts come from the runs' cards (the last census the bot has); a cluster without one
is read at most every FACTS_TTL seconds, never on each open.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.config.settings import BotConfig
from bot.slack.home import ClusterLine, HomeView, RunLine, WaitingLine, render_home
from bot.slack.membership import Membership
from bot.slack.notifier import Notifier
from bot.store.repository import Store
from bot.upgrade.phases import Action, is_terminal
from bot.upgrade.records import Run
from bot.workflow.reads import ClusterReads

log = logging.getLogger(__name__)
DEBOUNCE = 2.0  # seconds: run changes within this become one republish
VIEWERS_FOR = 30 * 60.0  # seconds after opening Home that a person's tab is kept fresh
MAX_VIEWERS = 50  # tabs republished per change, well inside Tier 4 per workspace
FACTS_TTL = 300.0  # seconds between reads of a cluster that no run's card describes
RECENT_PER_CLUSTER = 5


@dataclass(frozen=True)
class _Seen:
    line: ClusterLine
    at: float  # monotonic


class HomeTabs:
    def __init__(self, store: Store, config: BotConfig, reads: ClusterReads,
                 notifier: Notifier, membership: Membership, debounce: float = DEBOUNCE) -> None:
        self.store, self.config, self.reads = store, config, reads
        self.notifier, self.membership, self.debounce = notifier, membership, debounce
        self._lock = threading.Lock()
        self._viewers: dict[str, float] = {}  # user -> monotonic time they opened Home
        self._timer: threading.Timer | None = None
        self._seen: dict[str, _Seen] = {}
        self._links: dict[int, str] = {}

    def opened(self, user: str) -> None:
        with self._lock:
            self._viewers[user] = time.monotonic()
        self.publish(user)

    def changed(self, run_id: int | None = None) -> None:
        """A run changed: republish recent viewers' tabs once the changes settle."""
        with self._lock:
            if self._timer is not None or not self._viewers:
                return
            self._timer = threading.Timer(self.debounce, self._flush)
            self._timer.daemon = True
            self._timer.start()

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()

    def _flush(self) -> None:
        now = time.monotonic()
        with self._lock:
            self._timer = None
            self._viewers = {u: t for u, t in self._viewers.items() if now - t < VIEWERS_FOR}
            users = sorted(self._viewers, key=self._viewers.__getitem__)[-MAX_VIEWERS:]
        for user in users:
            try:
                self.publish(user)
            except Exception as exc:  # one person's tab failing never stops the others
                log.warning("home tab of %s not republished: %s", user, exc)

    def publish(self, user: str) -> None:
        self.notifier.publish_home(user, render_home(self.view_for(user)))

    def view_for(self, user: str) -> HomeView:
        active = self.store.active_runs()
        finished = sorted((r for c in self.config.clusters
                           for r in self.store.recent_runs(c.name, RECENT_PER_CLUSTER)
                           if is_terminal(r.phase)), key=lambda r: r.updated_at, reverse=True)
        return HomeView(user, tuple(self._cluster(c.name, c.channel) for c in self.config.clusters),
                        tuple(self._line(r) for r in active),
                        tuple(w for r in active for w in self._waiting(r, user)),
                        tuple(self._line(r) for r in finished[:5]), datetime.now(UTC))

    def _line(self, run: Run) -> RunLine:
        return RunLine(run.id, run.cluster, run.from_rev, run.to_rev, run.phase,
                       run.requested_by, run.updated_at, self._link(run.id))

    def _link(self, run_id: int) -> str | None:
        if run_id in self._links:
            return self._links[run_id]
        ref = self.store.slack_ref(run_id)
        if ref is None:
            return None
        try:  # a permalink never changes: asked for once per run
            self._links[run_id] = self.notifier.permalink(ref)
        except Exception as exc:  # the line shows without a link; the next publish asks again
            log.warning("run %s: no permalink for its card: %s", run_id, exc)
            return None
        return self._links[run_id]

    def _waiting(self, run: Run, user: str) -> list[WaitingLine]:
        """The run's actions waiting for approvals that `user` may give by the policy."""
        out = []
        for need in self.notifier.needs(run):
            if need.action is Action.CANCEL or need.have >= need.need:
                continue
            if self._may_approve(run, need.action, user):
                out.append(WaitingLine(self._line(run), need.action, need.have, need.need))
        return out

    def _may_approve(self, run: Run, action: Action, user: str) -> bool:
        if user == run.requested_by:
            return False
        if any(a.user_id == user for a in self.store.approvals(run.id, action.value,
                                                               run.version)):
            return False
        policy = self.config.cluster(run.cluster).approval_policy(action)
        if user in policy.users:
            return True
        return bool(policy.groups and self.membership.groups_of(user, policy.groups))

    def _cluster(self, name: str, channel: str) -> ClusterLine:
        """From the newest run's card facts when there are some, else read (FACTS_TTL)."""
        cached = self._seen.get(name)
        latest = next(iter(self.store.recent_runs(name, 1)), None)
        facts = self.notifier.facts(latest.id) if latest is not None else None
        upgrades = cached.line.upgrades if cached else ()
        if cached is None or time.monotonic() - cached.at > FACTS_TTL:
            cached = self._read(name, channel, facts is None or not facts.by_version)
            upgrades = cached.line.upgrades
        if facts is not None and facts.by_version and latest is not None:
            revisions = tuple(p.revision for p in facts.planes) or cached.line.revisions
            return ClusterLine(name, channel, revisions, dict(facts.by_version), upgrades,
                               latest.updated_at)
        return cached.line

    def _read(self, name: str, channel: str, census: bool) -> _Seen:
        try:
            revisions = self.reads.mesh_state(name).revisions
            upgrades = self.reads.upgrades(name).upgrades
            versions = dict(self.reads.census(name).by_version) if census else {}
        except Exception as exc:  # the tab says "not read yet"; the next open tries again
            log.warning("home tab: cannot read cluster %s: %s", name, exc)
            return _Seen(ClusterLine(name, channel), 0.0)
        seen = _Seen(ClusterLine(name, channel, revisions, versions, upgrades, datetime.now(UTC)),
                     time.monotonic())
        self._seen[name] = seen
        return seen
