"""Looking at the database from outside the store: is it reachable (the ops endpoint's
`database` probe, doctor), and how to name it without its password.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bot.store.tables import RunRow

PROBE_TIMEOUT = 3  # seconds a database probe may take (kubelet's default probe timeout is 1 s)
Ping = Callable[[], tuple[bool, str]]


def database_ping(url: str, schema: bool = True) -> Ping:
    """Reads one row of `runs` (or, without `schema`, only connects) on a new connection each
    time; never creates a SQLite file. Says (reachable, what was seen)."""
    engine = _probe_engine(url)

    def ping() -> tuple[bool, str]:
        try:
            with engine.connect() as conn:
                conn.execute(select(RunRow.id).limit(1) if schema else select(1)).all()
        except Exception as exc:
            return False, f"{type(exc).__name__}: {_first_line(exc)}"
        return True, f"{engine.dialect.name} reachable"

    return ping


def describe_url(url: str) -> tuple[str, str | None]:
    """The URL with its password hidden, and the SQLite file it names (None otherwise)."""
    parsed = make_url(url)
    path = parsed.database if parsed.get_backend_name() == "sqlite" else None
    return parsed.render_as_string(hide_password=True), path


def _probe_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        uri = f"file:{quote(str(parsed.database))}?mode=rw"  # rw: fail instead of creating
        return create_engine("sqlite://", poolclass=NullPool, creator=lambda: sqlite3.connect(
            uri, uri=True, timeout=PROBE_TIMEOUT, check_same_thread=False))
    args = {"connect_timeout": PROBE_TIMEOUT} if parsed.get_backend_name() == "postgresql" else {}
    return create_engine(url, poolclass=NullPool, connect_args=args)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
