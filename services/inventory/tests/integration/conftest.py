"""Fixtures for the inventory integration suite.

The database comes only from what the runner exports (DATABASE_URL and the
POSTGRES_* names); the service under test runs as its own process, started
once per session, exactly as it is deployed. Each test starts from empty
tables, so the suite can run again and again against the same server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from inv_client import Client, ServerProcess, server_env

REQUIRED_ENV = ("DATABASE_URL", "POSTGRES_HOST", "POSTGRES_PORT", "INVENTORY_MAX_RESERVATION")


@pytest.fixture(scope="session", autouse=True)
def backend_env() -> None:
    """Fail, never skip: an integration run without its database must not look green."""
    missing = [name for name in REQUIRED_ENV if not os.environ.get(name)]
    if missing:
        pytest.fail(f"environment lacks {', '.join(missing)}; run this suite through "
                    "services/inventory/ci/tier3.py, which starts PostgreSQL and exports it",
                    pytrace=False)


@pytest.fixture(scope="session")
def server(backend_env: None) -> Iterator[ServerProcess]:
    proc = ServerProcess(server_env())
    proc.start()
    try:
        yield proc
    finally:
        code = proc.stop()
        assert code == 0, f"inventory exited {code} on SIGTERM; stderr:\n{''.join(proc.stderr)}"


@pytest.fixture
def db() -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("TRUNCATE reservations, items RESTART IDENTITY CASCADE")
        yield conn


@pytest.fixture
def api(server: ServerProcess, db: psycopg.Connection[Any]) -> Client:
    return Client(server.base_url)
