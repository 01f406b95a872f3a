"""Durable state of upgrade runs: the only memory the bot has across restarts and replicas.

It enforces three rules in the database itself, so two processes racing cannot break them:
one active run per cluster (the `active_runs` primary key), optimistic versions on runs (a
stale click changes nothing) and an insert-only audit. Callers get frozen dataclasses.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Engine, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from bot.store.fleets import FleetStore
from bot.store.tables import (
    ActiveRunRow,
    ApprovalRow,
    AuditRow,
    IntentRow,
    PhaseChangeRow,
    RunRow,
    SlackRefRow,
    StepStateRow,
    install_schema,
    open_engine,
    to_approval,
    to_audit,
    to_change,
    to_intent,
    to_run,
    to_slack_ref,
)
from bot.upgrade.errors import GiveUp, RetryLater, RunConflict, StaleVersion
from bot.upgrade.kinds import AuditKind
from bot.upgrade.phases import Phase, RunKind, first_phase, is_terminal, successors
from bot.upgrade.records import (
    Approval,
    AuditEntry,
    Intent,
    NewAuditEntry,
    NewRun,
    PhaseChange,
    Run,
    SlackRef,
)

Clock = Callable[[], datetime]
_Row = TypeVar("_Row", SlackRefRow, StepStateRow)
DEFAULT_URL = "sqlite:///mesh-upgrade.db"


def create_store(url: str = DEFAULT_URL, *, clock: Clock | None = None) -> Store:
    """Open (and create if needed) the store; SQLite gets WAL and a busy timeout."""
    engine = open_engine(url)
    install_schema(engine)
    return Store(engine, clock=clock)


class Store:
    def __init__(self, engine: Engine, *, clock: Clock | None = None) -> None:
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._clock: Clock = clock or (lambda: datetime.now(UTC))
        self.fleets = FleetStore(self._sessions, self._now)  # fleet runs (bot/store/fleets.py)

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the store's clock must return timezone-aware datetimes")
        return now.astimezone(UTC)

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    # --- runs -----------------------------------------------------------------------------

    def create_run(self, new: NewRun) -> Run:
        """Start a run in its first phase; RunConflict if the cluster already has one."""
        for _ in range(3):
            try:
                return self._insert_run(new)
            except IntegrityError:
                holder = self.active_run(new.cluster)
                if holder is not None:
                    raise RunConflict(new.cluster, holder.id, holder.requested_by,
                                      holder.phase) from None
        raise RetryLater(f"Could not register a run for {new.cluster}.", 1.0)

    def _insert_run(self, new: NewRun) -> Run:
        now, phase = self._now(), first_phase(new.kind)
        with self._tx() as s:
            row = RunRow(
                cluster=new.cluster, kind=new.kind.value, from_rev=new.from_rev,
                to_rev=new.to_rev, phase=phase.value, requested_by=new.requested_by,
                options=dict(new.options), plan=dict(new.plan), created_at=now, updated_at=now,
            )
            s.add(row)
            s.flush()
            s.add(ActiveRunRow(cluster=new.cluster, run_id=row.id, since=now))
            s.add(PhaseChangeRow(run_id=row.id, from_phase=None, to_phase=phase.value, at=now,
                                 by=new.requested_by, why="requested"))
            s.flush()
            return to_run(row)

    def get_run(self, run_id: int) -> Run:
        with self._tx() as s:
            return to_run(_load(s, run_id))

    def active_run(self, cluster: str) -> Run | None:
        with self._tx() as s:
            lock = s.get(ActiveRunRow, cluster)
            return None if lock is None else to_run(_load(s, lock.run_id))

    def active_runs(self) -> tuple[Run, ...]:
        """Every run that still holds its cluster, oldest first (what the scheduler ticks)."""
        query = select(RunRow).join(ActiveRunRow, ActiveRunRow.run_id == RunRow.id)
        with self._tx() as s:
            return tuple(to_run(r) for r in s.scalars(query.order_by(RunRow.id)))

    def latest_runs(self, limit: int) -> tuple[Run, ...]:
        """The last `limit` runs of any cluster, newest first (one query)."""
        with self._tx() as s:
            rows = s.scalars(select(RunRow).order_by(RunRow.id.desc()).limit(limit))
            return tuple(to_run(r) for r in rows)

    def recent_runs(self, cluster: str, limit: int = 20) -> tuple[Run, ...]:
        query = select(RunRow).where(RunRow.cluster == cluster)
        with self._tx() as s:
            rows = s.scalars(query.order_by(RunRow.id.desc()).limit(limit))
            return tuple(to_run(r) for r in rows)

    def transition(self, run_id: int, expected_version: int, to_phase: Phase, by: str,
                   why: str, entries: Sequence[NewAuditEntry] = ()) -> Run:
        """Move the run if it is still at `expected_version` (clearing any pause note), with
        its audit `entries` in the same transaction."""

        def move(s: Session, row: RunRow, now: datetime) -> None:
            _move(s, row, to_phase, by, why, now)
            _add_audit(s, row, entries, now)

        return self._update(run_id, expected_version, move)

    def approve(self, run_id: int, expected_version: int, action: str, user_id: str,
                entries: Sequence[NewAuditEntry], to_phase: Phase | None = None,
                why: str = "") -> Run:
        """One durable decision: `user_id`'s approval of the run as it is at
        `expected_version`, its audit `entries` and, with `to_phase`, the transition it
        satisfies, committed together or not at all (StaleVersion if the run moved)."""

        def decide(s: Session, row: RunRow, now: datetime) -> None:
            known = select(ApprovalRow.id).where(
                ApprovalRow.run_id == run_id, ApprovalRow.action == action,
                ApprovalRow.user_id == user_id, ApprovalRow.run_version == expected_version)
            if s.scalars(known).first() is None:
                s.add(ApprovalRow(run_id=run_id, action=action, user_id=user_id, at=now,
                                  run_version=expected_version))
            _add_audit(s, row, entries, now)
            if to_phase is not None:
                _move(s, row, to_phase, user_id, why, now)

        return self._update(run_id, expected_version, decide)

    def set_pause(self, run_id: int, expected_version: int, reason: str | None,
                  hint: str | None = None) -> Run:
        """Note why a run waits for a person (None clears it); the phase does not change."""

        def note(_s: Session, row: RunRow, _now: datetime) -> None:
            row.pause_reason, row.pause_hint = reason, hint

        return self._update(run_id, expected_version, note)

    def _update(self, run_id: int, expected_version: int,
                change: Callable[[Session, RunRow, datetime], None]) -> Run:
        try:
            with self._tx() as s:
                row = _load(s, run_id)
                _expect_version(row, expected_version)
                now = self._now()
                change(s, row, now)
                row.updated_at = now
                s.flush()
                return to_run(row)
        except StaleDataError:  # another process committed between our read and write
            raise StaleVersion(run_id, expected_version, self.get_run(run_id).version) from None

    def history(self, run_id: int) -> tuple[PhaseChange, ...]:
        query = select(PhaseChangeRow).where(PhaseChangeRow.run_id == run_id)
        with self._tx() as s:
            return tuple(to_change(r) for r in s.scalars(query.order_by(PhaseChangeRow.id)))

    # --- approvals ------------------------------------------------------------------------

    def record_approval(self, run_id: int, action: str, user_id: str, run_version: int) -> Approval:
        """Store one approval of the run as it is at `run_version`; repeating it is a no-op."""
        try:
            with self._tx() as s:
                _expect_version(_load(s, run_id), run_version)
                row = ApprovalRow(run_id=run_id, action=action, user_id=user_id,
                                  at=self._now(), run_version=run_version)
                s.add(row)
                s.flush()
                return to_approval(row)
        except IntegrityError:
            found = self.approvals(run_id, action, run_version)
            return next(a for a in found if a.user_id == user_id)

    def approvals(self, run_id: int, action: str, run_version: int) -> tuple[Approval, ...]:
        query = select(ApprovalRow).where(
            ApprovalRow.run_id == run_id, ApprovalRow.action == action,
            ApprovalRow.run_version == run_version,
        )
        with self._tx() as s:
            return tuple(to_approval(r) for r in s.scalars(query.order_by(ApprovalRow.id)))

    # --- audit (insert-only: there is deliberately no update or delete) ---------------------

    def audit(self, actor: str, kind: AuditKind, what: str, *, cluster: str,
              run_id: int | None = None, detail: Mapping[str, Any] | None = None) -> AuditEntry:
        """Append who (a Slack user id, "scheduler" or "bot") did what, of which kind, with its
        detail; readers key on `kind`, `what` is for people."""
        with self._tx() as s:
            row = AuditRow(run_id=run_id, cluster=cluster, actor=actor, kind=kind.value, what=what,
                           at=self._now(), detail=dict(detail or {}))
            s.add(row)
            s.flush()
            return to_audit(row)

    def last_audit_id(self, run_id: int) -> int:
        """The id of the run's newest audit entry (0: none)."""
        query = select(func.max(AuditRow.id)).where(AuditRow.run_id == run_id)
        with self._tx() as s:
            return int(s.scalar(query) or 0)

    def audit_log(self, *, cluster: str | None = None, run_id: int | None = None,
                  limit: int = 500) -> tuple[AuditEntry, ...]:
        query = select(AuditRow)
        if cluster is not None:
            query = query.where(AuditRow.cluster == cluster)
        if run_id is not None:
            query = query.where(AuditRow.run_id == run_id)
        with self._tx() as s:
            return tuple(to_audit(r) for r in s.scalars(query.order_by(AuditRow.id).limit(limit)))

    # --- intents: commands acked, work not yet done -----------------------------------------

    def record_intent(self, user_id: str, text: str, cluster: str | None,
                      response_url: str | None, by: str) -> int:
        with self._tx() as s:
            row = IntentRow(user_id=user_id, text=text, cluster=cluster,
                            response_url=response_url, by=by, at=self._now(), done_at=None)
            s.add(row)
            s.flush()
            return row.id

    def finish_intent(self, intent_id: int) -> bool:
        """Mark the intent done; True for the one caller that finished it."""
        with self._tx() as s:
            done = s.execute(update(IntentRow).where(IntentRow.id == intent_id,
                                                     IntentRow.done_at.is_(None))
                             .values(done_at=self._now()))
            return bool(cast(CursorResult[Any], done).rowcount)

    def open_intents(self) -> tuple[Intent, ...]:
        query = select(IntentRow).where(IntentRow.done_at.is_(None)).order_by(IntentRow.id)
        with self._tx() as s:
            return tuple(to_intent(r) for r in s.scalars(query))

    # --- slack references -----------------------------------------------------------------

    def set_slack_ref(self, run_id: int, channel: str, root_ts: str,
                      thread_ts: str | None = None) -> SlackRef:
        row = self._merge(lambda: SlackRefRow(run_id=run_id, channel=channel, root_ts=root_ts,
                                              thread_ts=thread_ts))
        return to_slack_ref(row)

    def slack_ref(self, run_id: int) -> SlackRef | None:
        with self._tx() as s:
            row = s.get(SlackRefRow, run_id)
            return None if row is None else to_slack_ref(row)

    # --- step state: what side effects a run already did ----------------------------------

    def put_step(self, run_id: int, key: str, value: Any) -> None:
        """Record (or overwrite) a JSON-serialisable note such as "ARM PUT sent at T"."""
        self._merge(lambda: StepStateRow(run_id=run_id, key=key, value=copy.deepcopy(value),
                                         updated_at=self._now()))

    def _merge(self, make: Callable[[], _Row]) -> _Row:
        """Insert or overwrite by primary key. `merge` reads, then inserts: on PostgreSQL two
        processes can both find nothing and both insert; the loser retries as an update."""
        try:
            return self._merge_once(make())
        except IntegrityError:
            return self._merge_once(make())

    def _merge_once(self, row: _Row) -> _Row:
        with self._tx() as s:
            return s.merge(row)

    def claim_step(self, run_id: int, key: str, value: Any) -> bool:
        """Record `key` only if absent: True for the one caller that may do the side effect."""
        try:
            with self._tx() as s:
                s.add(StepStateRow(run_id=run_id, key=key, value=copy.deepcopy(value),
                                   updated_at=self._now()))
            return True
        except IntegrityError:
            return False

    def release_step(self, run_id: int, key: str) -> None:
        """Forget `key` (a claim whose side effect did not happen), so it can be claimed again."""
        with self._tx() as s:
            s.execute(delete(StepStateRow).where(StepStateRow.run_id == run_id,
                                                 StepStateRow.key == key))

    def step(self, run_id: int, key: str) -> Any:
        """The recorded value, or None when the step was never recorded."""
        with self._tx() as s:
            row = s.get(StepStateRow, (run_id, key))
            return None if row is None else copy.deepcopy(row.value)

    def steps(self, run_id: int) -> dict[str, Any]:
        query = select(StepStateRow).where(StepStateRow.run_id == run_id)
        with self._tx() as s:
            return {r.key: copy.deepcopy(r.value) for r in s.scalars(query)}


def _add_audit(s: Session, row: RunRow, entries: Sequence[NewAuditEntry], now: datetime) -> None:
    for e in entries:
        s.add(AuditRow(run_id=row.id, cluster=row.cluster, actor=e.actor, kind=e.kind.value,
                       what=e.what, at=now, detail=dict(e.detail)))


def _move(s: Session, row: RunRow, to_phase: Phase, by: str, why: str, now: datetime) -> None:
    current = Phase(row.phase)
    if to_phase not in successors(current, RunKind(row.kind)):
        raise GiveUp(f"Run {row.id} cannot go from {current} to {to_phase}.",
                     "This is a bug in the bot; the run was not changed.")
    row.phase, row.pause_reason, row.pause_hint = to_phase.value, None, None
    s.add(PhaseChangeRow(run_id=row.id, from_phase=current.value, to_phase=to_phase.value,
                         at=now, by=by, why=why))
    if is_terminal(to_phase):
        s.execute(delete(ActiveRunRow).where(ActiveRunRow.run_id == row.id))


def _load(s: Session, run_id: int) -> RunRow:
    row = s.get(RunRow, run_id)
    if row is None:
        raise GiveUp(f"There is no run {run_id}.", "Check the run id on the card.")
    return row


def _expect_version(row: RunRow, expected: int) -> None:
    if row.version != expected:
        raise StaleVersion(row.id, expected, row.version)
