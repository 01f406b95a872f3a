"""Fleet runs in the store: one active fleet run per fleet, its members, promotion approvals,
its append-only audit, and where its card lives in Slack.

The same rules as runs: a fleet run changes only at the version its caller saw (optimistic
lock), a member changes only from the state its caller saw, and the audit is never edited.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from bot.fleet.runs import FleetPhase, FleetRun, Member, MemberState
from bot.store.tables import (
    ActiveFleetRow,
    FleetApprovalRow,
    FleetAuditRow,
    FleetMemberRow,
    FleetRunRow,
    FleetSlackRow,
)
from bot.upgrade.errors import GiveUp, StaleVersion


class FleetConflict(GiveUp):
    def __init__(self, fleet: str, holder: FleetRun) -> None:
        super().__init__(f"Fleet {fleet} already has a run under way (fleet run {holder.id}, "
                         f"{holder.phase.value}, by <@{holder.requested_by}>).",
                         f"Follow it on its card, or `/mesh-upgrade fleet cancel {fleet}` "
                         "first.")


@dataclass(frozen=True)
class FleetAuditEntry:
    id: int
    fleet_run_id: int
    actor: str
    kind: str
    what: str
    at: datetime
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class FleetApproval:
    user_id: str
    at: datetime


@dataclass(frozen=True)
class FleetSlack:
    channel: str
    root_ts: str  # "" while claimed and not yet posted
    claimed_at: datetime
    cursor: int


class FleetStore:
    def __init__(self, sessions: sessionmaker[Session], now: Callable[[], datetime]) -> None:
        self._sessions, self._now = sessions, now

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    # --- fleet runs --------------------------------------------------------------------------

    def create(self, fleet: str, target: str, by: str, members: Sequence[Member]) -> FleetRun:
        """A fleet run in its first ring; FleetConflict when the fleet already has one."""
        now = self._now()
        try:
            with self._tx() as s:
                row = FleetRunRow(fleet=fleet, target=target, requested_by=by,
                                  phase=FleetPhase.RUNNING.value, ring=0, note="",
                                  soak_until=None, asked_at=None, created_at=now,
                                  updated_at=now)
                s.add(row)
                s.flush()
                s.add(ActiveFleetRow(fleet=fleet, fleet_run_id=row.id))
                for i, m in enumerate(members):
                    s.add(_member_row(row.id, i, m))
                s.flush()
                return _to_run(row)
        except IntegrityError:
            holder = self.active(fleet)
            if holder is None:
                raise
            raise FleetConflict(fleet, holder) from None

    def get(self, fleet_run_id: int) -> FleetRun:
        with self._tx() as s:
            return _to_run(_load(s, fleet_run_id))

    def active(self, fleet: str) -> FleetRun | None:
        with self._tx() as s:
            lock = s.get(ActiveFleetRow, fleet)
            return None if lock is None else _to_run(_load(s, lock.fleet_run_id))

    def active_runs(self) -> tuple[FleetRun, ...]:
        query = select(FleetRunRow).join(ActiveFleetRow,
                                         ActiveFleetRow.fleet_run_id == FleetRunRow.id)
        with self._tx() as s:
            return tuple(_to_run(r) for r in s.scalars(query.order_by(FleetRunRow.id)))

    def recent(self, fleet: str, limit: int = 5) -> tuple[FleetRun, ...]:
        query = select(FleetRunRow).where(FleetRunRow.fleet == fleet)
        with self._tx() as s:
            return tuple(_to_run(r) for r in
                         s.scalars(query.order_by(FleetRunRow.id.desc()).limit(limit)))

    def move(self, fleet_run_id: int, expected_version: int, phase: FleetPhase, *,
             ring: int | None = None, note: str = "", soak_until: datetime | None = None,
             asked_at: datetime | None = None, audit: Sequence[tuple[str, str, str,
                                                                    Mapping[str, Any]]] = ()
             ) -> FleetRun:
        """Phase (and ring, note, soak end, promotion request) as of `expected_version`, with
        its audit entries (actor, kind, what, detail) in the same transaction."""
        try:
            return self._move(fleet_run_id, expected_version, phase, ring, note, soak_until,
                              asked_at, audit)
        except StaleDataError:  # another writer moved it between our read and our write
            raise StaleVersion(fleet_run_id, expected_version,
                               self.get(fleet_run_id).version) from None

    def _move(self, fleet_run_id: int, expected_version: int, phase: FleetPhase,
              ring: int | None, note: str, soak_until: datetime | None,
              asked_at: datetime | None, audit: Sequence[tuple[str, str, str, Mapping[str, Any]]]
              ) -> FleetRun:
        now = self._now()
        with self._tx() as s:
            row = _load(s, fleet_run_id)
            if row.version != expected_version:
                raise StaleVersion(row.id, expected_version, row.version)
            row.phase, row.note, row.updated_at = phase.value, note, now
            row.soak_until, row.asked_at = soak_until, asked_at
            if ring is not None:
                row.ring = ring
            for actor, kind, what, detail in audit:
                s.add(FleetAuditRow(fleet_run_id=row.id, actor=actor, kind=kind, what=what,
                                    at=now, detail=dict(detail)))
            if phase in (FleetPhase.COMPLETED, FleetPhase.CANCELLED):
                lock = s.get(ActiveFleetRow, row.fleet)
                if lock is not None and lock.fleet_run_id == row.id:
                    s.delete(lock)
            s.flush()
            return _to_run(row)

    # --- members -----------------------------------------------------------------------------

    def members(self, fleet_run_id: int) -> tuple[Member, ...]:
        query = select(FleetMemberRow).where(FleetMemberRow.fleet_run_id == fleet_run_id)
        with self._tx() as s:
            return tuple(_to_member(r) for r in
                         s.scalars(query.order_by(FleetMemberRow.position)))

    def set_member(self, fleet_run_id: int, was: MemberState, member: Member) -> bool:
        """Write `member` if it is still in state `was`: False when another writer got there
        first (the caller reads again)."""
        done = self._tx_update(
            update(FleetMemberRow)
            .where(FleetMemberRow.fleet_run_id == fleet_run_id,
                   FleetMemberRow.cluster == member.cluster, FleetMemberRow.state == was.value)
            .values(state=member.state.value, run_id=member.run_id, reason=member.reason,
                    finished_at=member.finished_at))
        return done == 1

    def _tx_update(self, statement: Any) -> int:
        with self._tx() as s:
            return int(cast(CursorResult[Any], s.execute(statement)).rowcount)

    # --- promotion approvals -----------------------------------------------------------------

    def approve(self, fleet_run_id: int, ring: int, asked_at: datetime, user: str) -> bool:
        """Record `user`'s approval of the request made at `asked_at`; False if already in."""
        try:
            with self._tx() as s:
                s.add(FleetApprovalRow(fleet_run_id=fleet_run_id, ring=ring, asked_at=asked_at,
                                       user_id=user, at=self._now()))
            return True
        except IntegrityError:
            return False

    def approvals(self, fleet_run_id: int, ring: int, asked_at: datetime
                  ) -> tuple[FleetApproval, ...]:
        query = select(FleetApprovalRow).where(FleetApprovalRow.fleet_run_id == fleet_run_id,
                                               FleetApprovalRow.ring == ring,
                                               FleetApprovalRow.asked_at == asked_at)
        with self._tx() as s:
            return tuple(FleetApproval(r.user_id, r.at)
                         for r in s.scalars(query.order_by(FleetApprovalRow.id)))

    # --- audit -------------------------------------------------------------------------------

    def audit(self, fleet_run_id: int, actor: str, kind: str, what: str,
              detail: Mapping[str, Any] | None = None) -> None:
        with self._tx() as s:
            s.add(FleetAuditRow(fleet_run_id=fleet_run_id, actor=actor, kind=kind, what=what,
                                at=self._now(), detail=dict(detail or {})))

    def audit_log(self, fleet_run_id: int, after: int = 0) -> tuple[FleetAuditEntry, ...]:
        query = select(FleetAuditRow).where(FleetAuditRow.fleet_run_id == fleet_run_id,
                                            FleetAuditRow.id > after)
        with self._tx() as s:
            return tuple(FleetAuditEntry(r.id, r.fleet_run_id, r.actor, r.kind, r.what, r.at,
                                         copy.deepcopy(r.detail))
                         for r in s.scalars(query.order_by(FleetAuditRow.id)))

    # --- the card ------------------------------------------------------------------------------

    def claim_card(self, fleet_run_id: int, channel: str) -> bool:
        """True for the one caller that may post the fleet's card."""
        try:
            with self._tx() as s:
                s.add(FleetSlackRow(fleet_run_id=fleet_run_id, channel=channel, root_ts="",
                                    claimed_at=self._now(), cursor=0))
            return True
        except IntegrityError:
            return False

    def slack(self, fleet_run_id: int) -> FleetSlack | None:
        with self._tx() as s:
            row = s.get(FleetSlackRow, fleet_run_id)
            return None if row is None else FleetSlack(row.channel, row.root_ts, row.claimed_at,
                                                       row.cursor)

    def set_card(self, fleet_run_id: int, root_ts: str) -> None:
        self._tx_update(update(FleetSlackRow).where(FleetSlackRow.fleet_run_id == fleet_run_id)
                        .values(root_ts=root_ts, claimed_at=self._now()))

    def move_cursor(self, fleet_run_id: int, was: int, to: int) -> bool:
        """Claim the thread's replies after `was` up to `to`: True for the one that may post."""
        done = self._tx_update(
            update(FleetSlackRow).where(FleetSlackRow.fleet_run_id == fleet_run_id,
                                        FleetSlackRow.cursor == was).values(cursor=to))
        return done == 1


def _load(s: Session, fleet_run_id: int) -> FleetRunRow:
    row = s.get(FleetRunRow, fleet_run_id)
    if row is None:
        raise GiveUp(f"There is no fleet run {fleet_run_id}.", "Check the fleet card.")
    return row


def _member_row(fleet_run_id: int, position: int, m: Member) -> FleetMemberRow:
    return FleetMemberRow(fleet_run_id=fleet_run_id, cluster=m.cluster, ring=m.ring,
                          position=position, state=m.state.value, run_id=m.run_id,
                          reason=m.reason, finished_at=m.finished_at)


def _to_run(r: FleetRunRow) -> FleetRun:
    return FleetRun(r.id, r.fleet, r.target, r.requested_by, FleetPhase(r.phase), r.ring,
                    r.note, r.soak_until, r.asked_at, r.version, r.created_at, r.updated_at)


def _to_member(r: FleetMemberRow) -> Member:
    return Member(r.cluster, r.ring, MemberState(r.state), r.run_id, r.reason, r.finished_at)
