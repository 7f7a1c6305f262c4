"""PostgreSQL is ready when a real client can log in to the target database and query."""

from __future__ import annotations

from ci.endpoints import Endpoint
from ci.probes.base import ATTEMPT_TIMEOUT


class PostgresProbe:
    description = "psycopg connect + SELECT 1"

    def check(self, endpoint: Endpoint) -> None:
        import psycopg

        with psycopg.connect(
            host=endpoint.host,
            port=endpoint.port,
            user=endpoint.user,
            password=endpoint.password,
            dbname=endpoint.database,
            connect_timeout=max(1, int(ATTEMPT_TIMEOUT)),
        ) as conn:
            conn.execute("SELECT 1").fetchone()
