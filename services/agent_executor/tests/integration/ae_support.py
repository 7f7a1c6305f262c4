"""Helpers for the agent_executor integration suite: the chat stub and JetStream reads.

The stub is a real HTTP server on loopback (stdlib ``http.server`` in a thread),
so the app's real HTTP client, headers and error handling are exercised; only
the model behind the endpoint is replaced.
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
from nats.js import JetStreamContext


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
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

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


@asynccontextmanager
async def jetstream(settings: Settings) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(settings.nats_url, name="agent_executor-tests")
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


async def publish_raw(js: JetStreamContext, settings: Settings, payload: bytes) -> None:
    # No Nats-Msg-Id: JetStream must not drop a repeated event for us, the app must.
    await js.publish(settings.request_subject, payload, headers={"Content-Type": CONTENT_TYPE})


async def publish_request(js: JetStreamContext, settings: Settings, event: CloudEvent) -> None:
    await publish_raw(js, settings, event.to_json())


async def result_events(
    js: JetStreamContext, settings: Settings, *, want: int, timeout: float = 20.0,
    settle: float = 1.0,
) -> list[tuple[str, dict[str, Any]]]:
    """Result events (subject, envelope) in the stream: wait for ``want``, then ``settle``
    more seconds so that an unwanted extra one is caught too."""
    sub = await js.pull_subscribe(f"{settings.subject_prefix}.>", stream=settings.stream)
    found: list[tuple[str, dict[str, Any]]] = []
    deadline = time.monotonic() + timeout
    settled_at: float | None = None
    try:
        while time.monotonic() < (settled_at or deadline):
            try:
                msgs = await sub.fetch(10, timeout=0.3)
            except (TimeoutError, nats.errors.TimeoutError):
                msgs = []
            for msg in msgs:
                await msg.ack()
                if msg.subject != settings.request_subject:
                    found.append((msg.subject, json.loads(msg.data)))
            if settled_at is None and len(found) >= want:
                settled_at = time.monotonic() + settle
    finally:
        await sub.unsubscribe()
    return found


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
        await asyncio.wait_for(task, timeout=15)
        await consumer.close()


async def consumer_state(js: JetStreamContext, settings: Settings) -> Any:
    return await js.consumer_info(settings.stream, settings.consumer)


def one_row(db: psycopg.Connection[Any], sql: str, *params: Any) -> tuple[Any, ...]:
    """The single row ``sql`` returns; fails the test on zero or several."""
    rows = db.execute(sql, params).fetchall()
    assert len(rows) == 1, f"expected exactly one row, found {len(rows)}: {rows}"
    return tuple(rows[0])


async def wait_for(predicate: Any, timeout: float = 10.0) -> Any:
    """Poll an async predicate until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)
