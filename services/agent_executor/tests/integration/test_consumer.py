"""The consumer's handling of single deliveries: what is written, what is acked."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from ae_support import (
    DEADLINE,
    ChatStub,
    consumer_state,
    jetstream,
    one_row,
    publish_raw,
    publish_request,
    request_event,
    result_events,
    settled,
)
from agent_executor.config import Settings
from agent_executor.consumer import Consumer
from agent_executor.executor import Outcome


def test_one_message_is_recorded_published_and_acked(
    settings: Settings, chat_stub: ChatStub, db: psycopg.Connection[Any]
) -> None:
    event = request_event({"prompt": "count to two", "model": "custom-model"})

    async def scenario() -> tuple[list[Outcome | None], Any, list[Any]]:
        consumer = await Consumer.connect(settings)
        try:
            async with jetstream(settings) as js:
                await publish_request(js, settings, event)
                outcomes = await consumer.process_batch(timeout=DEADLINE)
                # Read at once, not waited for: the ack was confirmed before
                # process_batch returned, so the server state is already final.
                state = await consumer_state(js, settings)
                results = await result_events(js, settings)
                return outcomes, state, results
        finally:
            await consumer.close()

    outcomes, state, results = asyncio.run(scenario())

    assert outcomes == [Outcome.COMPLETED]
    assert state.num_ack_pending == 0, "the delivery was not acknowledged"
    assert state.num_pending == 0
    assert state.num_redelivered == 0
    assert state.ack_floor.stream_seq == 1
    assert [s for s, _ in results] == [settings.completed_subject]
    assert chat_stub.calls[0].body["model"] == "custom-model"
    row = db.execute(
        "SELECT status, model, response->>'output' FROM agent_executions WHERE event_id = %s",
        (event.id,),
    ).fetchall()
    assert row == [("completed", "custom-model", "echo: count to two")]


def test_not_a_cloudevent_is_terminated_without_row_or_llm_call(
    settings: Settings, chat_stub: ChatStub, db: psycopg.Connection[Any]
) -> None:
    async def scenario() -> tuple[list[Outcome | None], Any]:
        consumer = await Consumer.connect(settings)
        try:
            async with jetstream(settings) as js:
                await publish_raw(js, settings, b'{"hello": "no envelope"}')
                outcomes = await consumer.process_batch(timeout=DEADLINE)
                # Neither acked nor terminated: this raises, saying it is pending.
                return outcomes, await settled(js, settings)
        finally:
            await consumer.close()

    outcomes, state = asyncio.run(scenario())

    assert outcomes == [Outcome.INVALID]
    assert state.num_redelivered == 0
    assert chat_stub.calls == []
    assert db.execute("SELECT count(*) FROM agent_executions").fetchone() == (0,)


def test_request_without_prompt_is_recorded_as_failed_without_llm_call(
    settings: Settings, chat_stub: ChatStub, db: psycopg.Connection[Any]
) -> None:
    event = request_event({"temperature": 0})

    async def scenario() -> tuple[list[Outcome | None], list[Any]]:
        consumer = await Consumer.connect(settings)
        try:
            async with jetstream(settings) as js:
                await publish_request(js, settings, event)
                outcomes = await consumer.process_batch(timeout=DEADLINE)
                return outcomes, await result_events(js, settings)
        finally:
            await consumer.close()

    outcomes, results = asyncio.run(scenario())

    assert outcomes == [Outcome.FAILED]
    assert chat_stub.calls == []
    assert [s for s, _ in results] == [settings.failed_subject]
    assert "messages or prompt" in results[0][1]["data"]["error"]["message"]
    status, error = one_row(
        db, "SELECT status, error FROM agent_executions WHERE event_id = %s", event.id
    )
    assert status == "failed"
    assert error.startswith("bad request")
