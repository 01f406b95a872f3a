"""The SQLAlchemy tables behind repository.py, the engine, and how the schema is installed.

Kept apart from the store so the store reads as rules (one active run per cluster, optimistic
versions, append-only audit) and this file as the shape of the data. Only bot/store/ imports it.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    DateTime,
    Dialect,
    Engine,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.upgrade.kinds import AuditKind
from bot.upgrade.phases import Phase, RunKind
from bot.upgrade.records import Approval, AuditEntry, Intent, PhaseChange, Run, SlackRef


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, aware UTC out; SQLite keeps no offset, so it stores naive UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: UtcDateTime}


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cluster: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    from_rev: Mapped[str] = mapped_column(String(32))
    to_rev: Mapped[str] = mapped_column(String(32))
    phase: Mapped[str] = mapped_column(String(32))
    requested_by: Mapped[str] = mapped_column(String(64))
    options: Mapped[dict[str, Any]]
    plan: Mapped[dict[str, Any]]
    pause_reason: Mapped[str | None] = mapped_column(Text)
    pause_hint: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    # SQLAlchemy adds "AND version = :old" to every UPDATE and bumps it: the optimistic lock.
    __mapper_args__ = {"version_id_col": version}


class ActiveRunRow(Base):
    """The per-cluster lock: the primary key makes a second active run impossible."""

    __tablename__ = "active_runs"

    cluster: Mapped[str] = mapped_column(String(200), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), unique=True)
    since: Mapped[datetime]


class PhaseChangeRow(Base):
    __tablename__ = "phase_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    from_phase: Mapped[str | None] = mapped_column(String(32))
    to_phase: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    by: Mapped[str] = mapped_column(String(64))
    why: Mapped[str] = mapped_column(Text)


class ApprovalRow(Base):
    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("run_id", "action", "run_version", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    run_version: Mapped[int] = mapped_column(Integer)


class AuditRow(Base):
    """Append-only: the store has no update or delete, and triggers refuse them in SQL too."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), index=True)
    cluster: Mapped[str] = mapped_column(String(200), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32), default="note", server_default="note")
    what: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]
    detail: Mapped[dict[str, Any]]


class SlackRefRow(Base):
    __tablename__ = "slack_refs"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    root_ts: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))


class IntentRow(Base):
    """A command acked to a person, until its work is done (or it is reported as not done)."""

    __tablename__ = "intents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    cluster: Mapped[str | None] = mapped_column(String(200))
    response_url: Mapped[str | None] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(200))  # the replica that acked it
    at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class StepStateRow(Base):
    __tablename__ = "step_state"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class FleetRunRow(Base):
    __tablename__ = "fleet_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fleet: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(32))
    requested_by: Mapped[str] = mapped_column(String(64))
    phase: Mapped[str] = mapped_column(String(32))
    ring: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text)
    soak_until: Mapped[datetime | None]
    asked_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __mapper_args__ = {"version_id_col": version}


class ActiveFleetRow(Base):
    """One fleet run at a time per fleet, as active_runs is per cluster."""

    __tablename__ = "active_fleets"

    fleet: Mapped[str] = mapped_column(String(64), primary_key=True)
    fleet_run_id: Mapped[int] = mapped_column(ForeignKey("fleet_runs.id"), unique=True)


class FleetMemberRow(Base):
    __tablename__ = "fleet_members"

    fleet_run_id: Mapped[int] = mapped_column(ForeignKey("fleet_runs.id"), primary_key=True)
    cluster: Mapped[str] = mapped_column(String(200), primary_key=True)
    ring: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)  # the fleet's order of its clusters
    state: Mapped[str] = mapped_column(String(16))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    reason: Mapped[str] = mapped_column(Text)
    finished_at: Mapped[datetime | None]


class FleetApprovalRow(Base):
    __tablename__ = "fleet_approvals"
    __table_args__ = (UniqueConstraint("fleet_run_id", "ring", "asked_at", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fleet_run_id: Mapped[int] = mapped_column(ForeignKey("fleet_runs.id"), index=True)
    ring: Mapped[int] = mapped_column(Integer)  # the ring promoted to
    asked_at: Mapped[datetime]  # the request it approves
    user_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class FleetAuditRow(Base):
    """Append-only like `audit`: each entry is one reply in the fleet card's thread."""

    __tablename__ = "fleet_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fleet_run_id: Mapped[int] = mapped_column(ForeignKey("fleet_runs.id"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    what: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]
    detail: Mapped[dict[str, Any]]


class FleetSlackRow(Base):
    """The fleet card (claimed before it is posted, so one replica posts it) and how far its
    thread has got through the fleet's audit."""

    __tablename__ = "fleet_slack"

    fleet_run_id: Mapped[int] = mapped_column(ForeignKey("fleet_runs.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    root_ts: Mapped[str] = mapped_column(String(32))  # "" while claimed and not yet posted
    claimed_at: Mapped[datetime]
    cursor: Mapped[int] = mapped_column(Integer)  # the last fleet_audit id posted


_APPEND_ONLY = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit "
        "BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit "
        "BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS fleet_audit_no_update BEFORE UPDATE ON fleet_audit "
        "BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS fleet_audit_no_delete BEFORE DELETE ON fleet_audit "
        "BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit is append-only'; END $$",
        "DROP TRIGGER IF EXISTS audit_append_only ON audit",
        "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit "
        "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
        "DROP TRIGGER IF EXISTS fleet_audit_append_only ON fleet_audit",
        "CREATE TRIGGER fleet_audit_append_only BEFORE UPDATE OR DELETE ON fleet_audit "
        "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
    ],
}


# --- the frozen records callers get instead of rows ----------------------------------------














def to_run(r: RunRow) -> Run:
    return Run(r.id, r.cluster, RunKind(r.kind), r.from_rev, r.to_rev, Phase(r.phase),
               r.requested_by, copy.deepcopy(r.options), copy.deepcopy(r.plan), r.pause_reason,
               r.pause_hint, r.version, r.created_at, r.updated_at)


def to_change(r: PhaseChangeRow) -> PhaseChange:
    before = None if r.from_phase is None else Phase(r.from_phase)
    return PhaseChange(r.run_id, before, Phase(r.to_phase), r.at, r.by, r.why)


def to_approval(r: ApprovalRow) -> Approval:
    return Approval(r.run_id, r.action, r.user_id, r.at, r.run_version)


def to_audit(r: AuditRow) -> AuditEntry:
    return AuditEntry(r.id, r.run_id, r.cluster, r.actor, AuditKind(r.kind), r.what, r.at,
                      copy.deepcopy(r.detail))


def to_intent(r: IntentRow) -> Intent:
    return Intent(r.id, r.user_id, r.text, r.cluster, r.response_url, r.by, r.at)


def to_slack_ref(r: SlackRefRow) -> SlackRef:
    return SlackRef(r.run_id, r.channel, r.root_ts, r.thread_ts)


# --- engine and schema ----------------------------------------------------------------------


SQLITE_BUSY_TIMEOUT_MS = 10_000


def open_engine(url: str) -> Engine:
    """An engine for `url`; SQLite is tuned so that several processes can share the file;
    a server's connections are checked before use (a restarted PostgreSQL drops them all)."""
    engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine)
    return engine


def _tune_sqlite(engine: Engine) -> None:
    """WAL lets readers and one writer share the file across processes; BEGIN IMMEDIATE
    takes the write lock up front, because in WAL a deferred reader that later writes gets
    SQLITE_BUSY at once instead of waiting (sqlite.org/wal.html, "busy_timeout")."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # pysqlite must not issue its own BEGIN
        for pragma in ("journal_mode=WAL", f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
                       "foreign_keys=ON"):
            dbapi_conn.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


SCHEMA_LOCK = 0x6D657368  # "mesh": a PostgreSQL advisory lock id for schema changes


def lock_schema(conn: Connection) -> None:
    """Serialise schema changes across processes until the transaction ends: replicas that
    start together would otherwise both see a table missing and both create it (PostgreSQL
    then fails one with a unique violation on pg_type). SQLite's write lock does this already."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")


def install_schema(engine: Engine) -> None:
    """Create missing tables and the audit triggers, in one transaction (safe to repeat)."""
    with engine.begin() as conn:
        lock_schema(conn)
        Base.metadata.create_all(conn)
        _add_missing_columns(conn)
        for statement in _APPEND_ONLY.get(engine.dialect.name, []):
            conn.exec_driver_sql(statement)


def _add_missing_columns(conn: Connection) -> None:
    """Columns added since a table was first created (create_all adds tables, not columns)."""
    have = {c["name"] for c in inspect(conn).get_columns("audit")}
    if "kind" not in have:
        conn.exec_driver_sql("ALTER TABLE audit ADD COLUMN kind VARCHAR(32) NOT NULL "
                             "DEFAULT 'note'")
