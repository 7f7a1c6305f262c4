"""A failing chat endpoint ends in a failed result event and a failed row, not a retry loop."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import psycopg
import pytest
from ae_support import (
    ChatStub,
    jetstream,
    one_row,
    publish_request,
    request_event,
    result_events,
    running_consumer,
    settled,
)
from agent_executor.config import Settings


@pytest.mark.parametrize("status", [500, 401])
def test_llm_error_yields_failed_event_and_row(
    status: int, settings: Settings, chat_stub: ChatStub, db: psycopg.Connection[Any]
) -> None:
    chat_stub.error_status = status
    event = request_event({"prompt": "will fail"})

    async def scenario() -> tuple[list[Any], Any]:
        async with running_consumer(settings), jetstream(settings) as js:
            await publish_request(js, settings, event)
            results = await result_events(js, settings)
            return results, await settled(js, settings)

    results, state = asyncio.run(scenario())

    # Booleans, so that a failure report cannot print the key it found.
    key = os.environ["OPENAI_API_KEY"]
    leaked_to_event = key in json.dumps(results)
    leaked_to_row = key in json.dumps(db.execute("SELECT error FROM agent_executions").fetchall())
    assert not leaked_to_event, "the API key leaked into the failed event"
    assert not leaked_to_row, "the API key leaked into the execution row"

    assert [s for s, _ in results] == [settings.failed_subject]
    envelope = results[0][1]
    assert envelope["type"] == "agent.execute.failed"
    assert envelope["subject"] == event.id
    assert envelope["data"]["error"]["status"] == status
    assert f"stubbed failure {status}" in envelope["data"]["error"]["message"]
    assert len(chat_stub.calls) == 1, "a failed call must not be retried by redelivery"
    assert state.num_redelivered == 0

    status_col, response, error, completed_at = one_row(
        db,
        "SELECT status, response, error, completed_at FROM agent_executions WHERE event_id = %s",
        event.id,
    )
    assert status_col == "failed"
    assert response is None
    assert error.startswith(f"HTTP {status}")
    assert completed_at is not None
    assert "for key ***" in error


def test_unreachable_endpoint_is_a_failed_execution(
    settings: Settings, chat_stub: ChatStub, db: psycopg.Connection[Any]
) -> None:
    chat_stub.stop()  # nothing listens on the stub's port any more
    event = request_event({"prompt": "anyone there?"})

    async def scenario() -> list[Any]:
        async with running_consumer(settings), jetstream(settings) as js:
            await publish_request(js, settings, event)
            return await result_events(js, settings)

    results = asyncio.run(scenario())

    assert [s for s, _ in results] == [settings.failed_subject]
    assert results[0][1]["data"]["error"]["status"] is None
    assert "unreachable" in results[0][1]["data"]["error"]["message"]
    assert one_row(
        db, "SELECT status FROM agent_executions WHERE event_id = %s", event.id
    ) == ("failed",)
