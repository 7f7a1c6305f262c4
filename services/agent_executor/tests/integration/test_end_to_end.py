"""A request event in, a completed result event out, a finished row in PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from ae_support import (
    DEADLINE,
    ChatStub,
    consumer_state,
    jetstream,
    one_row,
    publish_request,
    request_event,
    result_events,
    running_consumer,
)
from agent_executor.config import Settings
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

SERVICE_DIR = Path(__file__).resolve().parents[2]
STARTUP_DEADLINE = 3 * DEADLINE


def _row(db: psycopg.Connection[Any], event_id: str) -> tuple[Any, ...]:
    return one_row(
        db,
        "SELECT status, model, request, response, error, completed_at, event_source, id"
        " FROM agent_executions WHERE event_id = %s",
        event_id,
    )


async def service_consuming(
    js: JetStreamContext, settings: Settings, proc: subprocess.Popen[str]
) -> None:
    """Wait until the process has created its durable consumer: it is then consuming.

    A cold start (interpreter, imports, coverage, three connections) is the
    most CPU the suite asks for at once: a third of a second unloaded, tens of
    seconds on a starved machine. So this waits on the fact, under a deadline
    of its own, not on a count of tries.
    """
    deadline = time.monotonic() + STARTUP_DEADLINE
    while True:
        try:
            await consumer_state(js, settings)
            return
        except NotFoundError:
            pass
        assert proc.poll() is None, "agent_executor exited before consuming"
        assert time.monotonic() < deadline, (
            f"agent_executor not consuming after {STARTUP_DEADLINE:.0f}s")
        await asyncio.sleep(0.02)


def test_request_event_yields_completed_event_and_row(
    settings: Settings, chat_stub: ChatStub, db: psycopg.Connection[Any]
) -> None:
    event = request_event({"prompt": "ping"})

    async def scenario() -> list[tuple[str, dict[str, Any]]]:
        async with running_consumer(settings), jetstream(settings) as js:
            await publish_request(js, settings, event)
            return await result_events(js, settings)

    results = asyncio.run(scenario())

    assert [subject for subject, _ in results] == [settings.completed_subject]
    envelope = results[0][1]
    assert envelope["specversion"] == "1.0"
    assert envelope["type"] == "agent.execute.completed"
    assert envelope["subject"] == event.id
    assert envelope["data"]["request_id"] == event.id
    assert envelope["data"]["output"] == "echo: ping"
    assert envelope["data"]["model"] == settings.model

    assert len(chat_stub.calls) == 1
    sent = chat_stub.calls[0].body
    assert sent["model"] == settings.model
    assert sent["messages"] == [{"role": "user", "content": "ping"}]

    status, model, request, response, error, completed_at, source, row_id = _row(db, event.id)
    assert (status, model, error) == ("completed", settings.model, None)
    assert request == {"prompt": "ping"}
    assert response["output"] == "echo: ping"
    assert response["usage"]["total_tokens"] == 5
    assert completed_at is not None
    assert source == "/tests/agent-executor"
    assert envelope["data"]["execution_id"] == str(row_id)


def test_service_process_serves_and_stops_on_sigterm(
    settings: Settings, chat_stub: ChatStub, db: psycopg.Connection[Any]
) -> None:
    """``python -m agent_executor`` as deployed: env config, consume, clean exit on SIGTERM."""
    env = dict(os.environ)
    env.update({
        "OPENAI_BASE_URL": settings.openai_base_url,
        "AGENT_STREAM": settings.stream,
        "AGENT_SUBJECT_PREFIX": settings.subject_prefix,
        "AGENT_CONSUMER": settings.consumer,
        "AGENT_DEDUP_PREFIX": settings.dedup_prefix,
        "AGENT_MODEL": "stub-model-x",
    })
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent_executor"], cwd=SERVICE_DIR, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    event = request_event({"messages": [{"role": "system", "content": "be brief"},
                                        {"role": "user", "content": "hello"}]})
    try:
        async def scenario() -> list[tuple[str, dict[str, Any]]]:
            async with jetstream(settings) as js:
                await service_consuming(js, settings, proc)
                await publish_request(js, settings, event)
                return await result_events(js, settings)

        results = asyncio.run(scenario())
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=STARTUP_DEADLINE)

    # Checked first and as a boolean, so no failure report below can print the key.
    key_in_log = os.environ["OPENAI_API_KEY"] in output
    assert not key_in_log, "the service logged the API key"
    assert proc.returncode == 0, output
    assert [s for s, _ in results] == [settings.completed_subject], output
    assert results[0][1]["data"]["output"] == "echo: hello"
    assert chat_stub.calls[0].body["model"] == "stub-model-x"
    assert _row(db, event.id)[0] == "completed"
