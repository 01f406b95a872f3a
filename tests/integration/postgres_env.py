"""A fresh PostgreSQL database per test, on the server MESH_UPGRADE_TEST_POSTGRES_URL names.

`.ci/run` starts Debian's PostgreSQL (`.ci/postgres`), exports the URL and sets
MESH_UPGRADE_REQUIRE_POSTGRES: there (or wherever CI is set) a missing URL fails the tests
instead of skipping them. Locally, `make postgres` starts it and `make test` passes the URL on.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.exc import ProgrammingError

ENV_URL = "MESH_UPGRADE_TEST_POSTGRES_URL"
ENV_REQUIRE = "MESH_UPGRADE_REQUIRE_POSTGRES"


def server_url() -> str:
    """The URL, or skip (locally) / fail (CI) with what to do."""
    url = os.environ.get(ENV_URL)
    if url:
        return url
    how = f"{ENV_URL} is not set: start PostgreSQL with `make postgres` (runs .ci/postgres)"
    if os.environ.get(ENV_REQUIRE) or os.environ.get("CI"):
        pytest.fail(f"{how}; this run requires the PostgreSQL tests", pytrace=False)
    pytest.skip(how)


@contextmanager
def fresh_database() -> Iterator[str]:
    """Create a database of its own for one test (the role may CREATEDB), then drop it."""
    server = make_url(server_url())
    name = f"meshbot_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        _drop(admin, name)
        admin.dispose()


def _drop(admin: Engine, name: str, tries: int = 5) -> None:
    """DROP ... WITH (FORCE) ends our own sessions, but a non-superuser cannot end an autovacuum
    worker that happens to be in the new database: then wait for it and try again."""
    for attempt in range(tries):
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except ProgrammingError:
            if attempt == tries - 1:
                raise
            time.sleep(0.5)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url
