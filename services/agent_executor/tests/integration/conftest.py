"""Fixtures for the agent_executor integration suite.

Connection details come only from the environment the runner exports
(POSTGRES_*, DRAGONFLY_HOST/PORT, NATS_URL, OPENAI_API_KEY). Each test gets its
own stream, subjects, consumer and dedup key prefix and starts and ends with an
empty table, so the suite can run again and again against the same servers.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from typing import Any

import nats
import psycopg
import pytest
import redis
from ae_support import ChatStub
from agent_executor.config import Settings
from nats.js.errors import NotFoundError

REQUIRED_ENV = (
    "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_DB",
    "DRAGONFLY_HOST", "DRAGONFLY_PORT", "NATS_URL", "OPENAI_API_KEY",
)


@pytest.fixture(scope="session", autouse=True)
def backend_env() -> None:
    """Fail, never skip: an integration run without its backends must not look green."""
    missing = [name for name in REQUIRED_ENV if not os.environ.get(name)]
    if missing:
        pytest.fail(
            f"environment lacks {', '.join(missing)}; run this suite through "
            "services/agent_executor/ci/tier3.py, which starts the backends and exports them",
            pytrace=False,
        )


@pytest.fixture
def chat_stub() -> Iterator[ChatStub]:
    stub = ChatStub().start()
    try:
        yield stub
    finally:
        stub.stop()
    stub.assert_authorized()


@pytest.fixture
def db() -> Iterator[psycopg.Connection[Any]]:
    conn = psycopg.connect(
        host=os.environ["POSTGRES_HOST"],
        port=int(os.environ["POSTGRES_PORT"]),
        user=os.environ["POSTGRES_USER"],
        password=os.environ.get("POSTGRES_PASSWORD", ""),
        dbname=os.environ["POSTGRES_DB"],
        autocommit=True,
    )
    conn.execute("TRUNCATE agent_executions")
    try:
        yield conn
    finally:
        conn.execute("TRUNCATE agent_executions")
        conn.close()


@pytest.fixture
def kv() -> Iterator[redis.Redis]:
    client = redis.Redis(
        host=os.environ["DRAGONFLY_HOST"], port=int(os.environ["DRAGONFLY_PORT"]),
        decode_responses=True,
    )
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def settings(chat_stub: ChatStub, db: Any, kv: redis.Redis) -> Iterator[Settings]:
    """App settings from the environment, pointed at the stub and at names of its own."""
    tag = uuid.uuid4().hex[:10]
    env = dict(os.environ)
    env.update({
        "OPENAI_BASE_URL": chat_stub.base_url,
        "AGENT_STREAM": f"AE_TEST_{tag}",
        "AGENT_SUBJECT_PREFIX": f"test.{tag}.agent.execute",
        "AGENT_CONSUMER": f"agent-executor-{tag}",
        "AGENT_DEDUP_PREFIX": f"test:{tag}:processed:",
        "AGENT_LLM_TIMEOUT": "10",
    })
    s = Settings.from_env(env)
    try:
        yield s
    finally:
        asyncio.run(_delete_stream(s))
        for key in kv.scan_iter(match=f"{s.dedup_prefix}*"):
            kv.delete(key)


async def _delete_stream(s: Settings) -> None:
    nc = await nats.connect(s.nats_url)
    try:
        await nc.jetstream().delete_stream(s.stream)
    except NotFoundError:
        pass
    finally:
        await nc.close()
