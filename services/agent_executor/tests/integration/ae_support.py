"""Helpers for the agent_executor integration suite: the chat stub and JetStream reads.

The stub is a real HTTP server on loopback (stdlib ``http.server`` in a thread),
so the app's real HTTP client, headers and error handling are exercised; only
the model behind the endpoint is replaced.

Waiting follows one rule, so the suite holds on a loaded 2-core CI machine:
wait for a condition the servers report, polling fast under a generous
deadline, and never sleep a fixed time and then assert. A deadline only costs
time when the app is broken; the fast path returns as soon as the condition holds.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import nats
import psycopg
from agent_executor.cloudevents import CONTENT_TYPE, CloudEvent
from agent_executor.config import Settings
from agent_executor.consumer import Consumer
from agent_executor.executor import REQUEST_TYPE
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError


@dataclass
class StubCall:
    path: str
    body: dict[str, Any]


class ChatStub:
    """An OpenAI-compatible ``/v1/chat/completions`` that echoes the last user message.

    It checks the bearer token against ``OPENAI_API_KEY`` on every request and
    answers 401 to a wrong one; :meth:`assert_authorized` turns any mismatch
    into a test failure without ever printing either value.
    """

    def __init__(self) -> None:
        self.calls: list[StubCall] = []
        self.unauthorized = 0
        self.error_status: int | None = None
        self._stopped = False
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        # A short poll interval: shutdown() waits for the serving loop's next poll.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> ChatStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (idempotent); the port then refuses connections."""
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def assert_authorized(self) -> None:
        assert self.unauthorized == 0, (
            f"chat stub got {self.unauthorized} request(s) whose bearer token "
            "was not OPENAI_API_KEY"
        )

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest output to the test's own

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                expected = "Bearer " + os.environ["OPENAI_API_KEY"]
                got = self.headers.get("Authorization") or ""
                if not hmac.compare_digest(got.encode(), expected.encode()):
                    with stub._lock:
                        stub.unauthorized += 1
                    self._reply(401, _error("invalid api key", "invalid_api_key"))
                    return
                if self.path != "/v1/chat/completions":
                    self._reply(404, _error(f"no route {self.path}", "not_found"))
                    return
                body = json.loads(raw)
                with stub._lock:
                    stub.calls.append(StubCall(self.path, body))
                    status = stub.error_status
                if status is not None:
                    # Like some real endpoints, quote the key that was presented.
                    message = f"stubbed failure {status} for key {got.removeprefix('Bearer ')}"
                    self._reply(status, _error(message, "stub_error"))
                    return
                last = body["messages"][-1]["content"]
                self._reply(200, {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body["model"],
                    "choices": [{
                        "index": 0,
                        "message": {"role": "assistant", "content": f"echo: {last}"},
                        "finish_reason": "stop",
                    }],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
                })

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


def request_event(data: Any, event_id: str | None = None) -> CloudEvent:
    kwargs = {"id": event_id} if event_id else {}
    return CloudEvent(type=REQUEST_TYPE, source="/tests/agent-executor", data=data, **kwargs)


DEADLINE = 30.0
"""Seconds any wait in the suite may take: far above a loaded machine's worst, and
only ever spent in full when the app is broken."""

POLL = 0.02
"""Seconds between two looks at the servers' state while waiting."""


@asynccontextmanager
async def connection(settings: Settings) -> AsyncIterator[NATS]:
    nc = await nats.connect(settings.nats_url, name="agent_executor-tests")
    try:
        yield nc
    finally:
        await nc.close()


def js_of(nc: NATS) -> JetStreamContext:
    """JetStream with the suite's deadline for each API request (nats-py's default is 5 s)."""
    return nc.jetstream(timeout=DEADLINE)


@asynccontextmanager
async def jetstream(settings: Settings) -> AsyncIterator[JetStreamContext]:
    async with connection(settings) as nc:
        yield js_of(nc)


async def publish_raw(js: JetStreamContext, settings: Settings, payload: bytes) -> None:
    # No Nats-Msg-Id: JetStream must not drop a repeated event for us, the app must.
    await js.publish(settings.request_subject, payload, headers={"Content-Type": CONTENT_TYPE})


async def publish_request(js: JetStreamContext, settings: Settings, event: CloudEvent) -> None:
    await publish_raw(js, settings, event.to_json())


async def consumer_state(js: JetStreamContext, settings: Settings) -> Any:
    return await js.consumer_info(settings.stream, settings.consumer)


async def settled(js: JetStreamContext, settings: Settings) -> Any:
    """The app's consumer once every published request is delivered and settled.

    Settled means acked or terminated: nothing left to deliver, nothing awaiting
    an ack (a nak'ed message counts as awaiting until redelivered and settled).
    Call it after publishing. Fails the test with the last state seen if the
    deadline passes, and waits for the consumer to exist (a service process
    creates it when it starts).
    """
    deadline = time.monotonic() + DEADLINE
    state: Any = None
    while True:
        try:
            state = await consumer_state(js, settings)
        except NotFoundError:
            state = None
        if (state is not None and state.num_pending == 0 and state.num_ack_pending == 0
                and state.delivered.consumer_seq >= 1):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(
                f"requests not settled within {DEADLINE:.0f}s: "
                + ("no consumer" if state is None else
                   f"pending={state.num_pending} ack_pending={state.num_ack_pending} "
                   f"delivered={state.delivered.consumer_seq} "
                   f"redelivered={state.num_redelivered}")
            )
        await asyncio.sleep(POLL)


async def stream_results(
    js: JetStreamContext, settings: Settings
) -> list[tuple[str, dict[str, Any]]]:
    """Every result event (subject, envelope) in the stream, read by sequence number."""
    info = await js.stream_info(settings.stream)
    found: list[tuple[str, dict[str, Any]]] = []
    if info.state.messages == 0:
        return found
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(settings.stream, seq)
        if msg.subject != settings.request_subject and msg.data is not None:
            found.append((str(msg.subject), json.loads(msg.data)))
    return found


async def result_events(
    js: JetStreamContext, settings: Settings
) -> list[tuple[str, dict[str, Any]]]:
    """The result events of every request published so far, once the app is done with them.

    The app publishes a request's result, and waits for JetStream to store it,
    *before* it acks the request. So once every request is settled, every result
    the app will ever publish for them is in the stream: an unwanted extra one
    is caught without waiting a fixed "settle" time for it.
    """
    await settled(js, settings)
    return await stream_results(js, settings)


@asynccontextmanager
async def running_consumer(settings: Settings) -> AsyncIterator[Consumer]:
    """The consumer's real run loop as a task, stopped the way SIGTERM stops it."""
    consumer = await Consumer.connect(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        yield consumer
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=DEADLINE)
        await consumer.close()


def one_row(db: psycopg.Connection[Any], sql: str, *params: Any) -> tuple[Any, ...]:
    """The single row ``sql`` returns; fails the test on zero or several."""
    rows = db.execute(sql, params).fetchall()
    assert len(rows) == 1, f"expected exactly one row, found {len(rows)}: {rows}"
    return tuple(rows[0])


async def wait_for(predicate: Any, timeout: float = DEADLINE) -> Any:
    """Poll an async predicate until it returns something truthy (or the deadline passes)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(POLL)
