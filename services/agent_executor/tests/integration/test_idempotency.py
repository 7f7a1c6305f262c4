"""The same event id delivered twice runs once: one LLM call, one row, one result."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import psycopg
import redis
from ae_support import (
    DEADLINE,
    ChatStub,
    connection,
    consumer_state,
    jetstream,
    js_of,
    publish_request,
    request_event,
    result_events,
    running_consumer,
    settled,
)
from agent_executor.config import Settings
from agent_executor.consumer import Consumer, settle
from agent_executor.executor import Outcome


def test_redelivered_event_is_processed_once(
    settings: Settings, chat_stub: ChatStub, db: psycopg.Connection[Any], kv: redis.Redis
) -> None:
    event = request_event({"prompt": "only once"})

    async def scenario() -> tuple[list[Any], Any]:
        async with running_consumer(settings), jetstream(settings) as js:
            await publish_request(js, settings, event)
            await publish_request(js, settings, event)  # same id, same bytes
            # Both deliveries settled, so a result of the duplicate would be in
            # the stream by now (results are stored before the request is acked).
            results = await result_events(js, settings)
            return results, await settled(js, settings)

    results, state = asyncio.run(scenario())

    assert len(chat_stub.calls) == 1, "the LLM was called for the duplicate"
    assert db.execute(
        "SELECT count(*) FROM agent_executions WHERE event_id = %s", (event.id,)
    ).fetchone() == (1,)
    assert [s for s, _ in results] == [settings.completed_subject]
    # The duplicate was recognised and acknowledged, not failed and retried.
    assert state.ack_floor.consumer_seq == 2
    assert state.num_redelivered == 0
    # The database guard alone would also keep the LLM call count at one; the
    # key proves the dedup store did the job, so losing that check fails here.
    ttl = kv.ttl(settings.dedup_prefix + event.id)
    assert 0 < ttl <= settings.dedup_ttl, f"dedup key missing or without TTL (ttl={ttl})"


def deliver_twice(settings: Settings, forget: Callable[[str], None]) -> list[Outcome | None]:
    """Publish one event, process it, call ``forget(event_id)``, publish it again."""
    event = request_event({"prompt": "delivered twice"})

    async def scenario() -> list[Outcome | None]:
        consumer = await Consumer.connect(settings)
        try:
            async with jetstream(settings) as js:
                await publish_request(js, settings, event)
                first = await consumer.process_batch(timeout=DEADLINE)
                forget(event.id)
                await publish_request(js, settings, event)
                return first + await consumer.process_batch(timeout=DEADLINE)
        finally:
            await consumer.close()

    return asyncio.run(scenario())


def test_database_guards_when_dedup_store_forgot(
    settings: Settings, chat_stub: ChatStub, db: psycopg.Connection[Any], kv: redis.Redis
) -> None:
    """A Dragonfly restart without persistence must not re-run a finished request."""

    def flush_store(event_id: str) -> None:
        assert kv.delete(settings.dedup_prefix + event_id) == 1

    assert deliver_twice(settings, flush_store) == [Outcome.COMPLETED, Outcome.DUPLICATE]
    assert len(chat_stub.calls) == 1
    assert db.execute("SELECT count(*) FROM agent_executions").fetchone() == (1,)


def test_dedup_store_guards_when_the_row_is_gone(
    settings: Settings, chat_stub: ChatStub, db: psycopg.Connection[Any]
) -> None:
    """Each guard must work alone: with the row purged, only the store stops a re-run.

    The mirror of the test above. Without it, a store whose answer were ignored
    would go unnoticed, since the unique index would still catch the duplicate.
    """

    def purge_row(event_id: str) -> None:
        db.execute("DELETE FROM agent_executions WHERE event_id = %s", (event_id,))

    assert deliver_twice(settings, purge_row) == [Outcome.COMPLETED, Outcome.DUPLICATE]
    assert len(chat_stub.calls) == 1, "the LLM was called again: the dedup store did not guard"
    assert db.execute("SELECT count(*) FROM agent_executions").fetchone() == (0,)


def test_jetstream_redelivery_after_a_lost_ack_is_acked_not_rerun(
    settings: Settings, chat_stub: ChatStub, db: psycopg.Connection[Any]
) -> None:
    """A worker processed the message but its ack never arrived: JetStream redelivers it."""
    event = request_event({"prompt": "lost ack"})

    async def scenario() -> tuple[Outcome, list[Outcome | None], Any]:
        consumer = await Consumer.connect(settings)
        try:
            async with connection(settings) as nc:
                js = js_of(nc)
                await publish_request(js, settings, event)
                # A second worker on the same durable consumer takes the first delivery...
                worker = await js.pull_subscribe_bind(settings.consumer, stream=settings.stream)
                (first,) = await worker.fetch(1, timeout=DEADLINE)
                outcome = await consumer.executor.handle(first.data)
                # ...and dies before acking: redeliver now. Confirmed, so the
                # redelivery is waiting before the consumer asks for it.
                assert await settle(nc, first, b"-NAK", DEADLINE)
                second = await consumer.process_batch(timeout=DEADLINE)
                state = await consumer_state(js, settings)
                await worker.unsubscribe()
                return outcome, second, state
        finally:
            await consumer.close()

    outcome, second, state = asyncio.run(scenario())

    assert outcome is Outcome.COMPLETED
    assert second == [Outcome.DUPLICATE]
    assert state.delivered.consumer_seq == 2, "JetStream did not redeliver the message"
    assert state.ack_floor.stream_seq == 1
    assert state.num_ack_pending == 0
    assert len(chat_stub.calls) == 1
    assert db.execute("SELECT count(*) FROM agent_executions").fetchone() == (1,)
