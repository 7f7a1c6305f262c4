"""The execution ledger in PostgreSQL: one row per request event.

The row is written *before* the LLM call (status ``running``) so a crash leaves
evidence, and the unique index on ``event_id`` is the last line of defence
against running a request twice when the Redis-protocol store has forgotten it
(restart without persistence, TTL expiry).
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from agent_executor.config import Settings

RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"


class ExecutionStore:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    @classmethod
    async def connect(cls, settings: Settings) -> ExecutionStore:
        conn = await psycopg.AsyncConnection.connect(
            host=settings.postgres_host,
            port=settings.postgres_port,
            user=settings.postgres_user,
            password=settings.postgres_password,
            dbname=settings.postgres_db,
            autocommit=True,
            application_name="agent_executor",
        )
        return cls(conn)

    async def close(self) -> None:
        await self._conn.close()

    async def start(
        self, event_id: str, source: str, model: str, request: Any
    ) -> uuid.UUID | None:
        """Record a new execution; ``None`` if this event id already has a row."""
        cur = await self._conn.execute(
            """
            INSERT INTO agent_executions (event_id, event_source, model, status, request)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (event_id) DO NOTHING
            RETURNING id
            """,
            (event_id, source, model, RUNNING, Jsonb(request)),
        )
        row = await cur.fetchone()
        if row is None:
            return None
        execution_id: uuid.UUID = row[0]
        return execution_id

    async def complete(self, execution_id: uuid.UUID, response: Any) -> None:
        await self._finish(execution_id, COMPLETED, response=response)

    async def fail(self, execution_id: uuid.UUID, error: str) -> None:
        await self._finish(execution_id, FAILED, error=error)

    async def _finish(
        self, execution_id: uuid.UUID, status: str, *, response: Any = None,
        error: str | None = None,
    ) -> None:
        await self._conn.execute(
            """
            UPDATE agent_executions
               SET status = %s, response = %s, error = %s,
                   completed_at = now(), updated_at = now()
             WHERE id = %s
            """,
            (status, None if response is None else Jsonb(response), error, execution_id),
        )
