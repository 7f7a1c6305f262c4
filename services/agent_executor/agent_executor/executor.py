"""What happens to one request event, independent of how it arrived.

Kept apart from the JetStream wiring so the rules (dedup first, row before the
LLM call, every request ends in exactly one result event) read in one place and
the transport only has to map an :class:`Outcome` to ack / nak / term.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from agent_executor.cloudevents import CloudEvent, InvalidEvent, parse
from agent_executor.config import Settings
from agent_executor.dedup import Deduplicator
from agent_executor.llm import Completion, LLMError
from agent_executor.store import ExecutionStore

log = logging.getLogger(__name__)

SOURCE = "/agent-executor"
REQUEST_TYPE = "agent.execute.request"
COMPLETED_TYPE = "agent.execute.completed"
FAILED_TYPE = "agent.execute.failed"

Publish = Callable[[str, CloudEvent], Awaitable[None]]


class Chat(Protocol):
    async def complete(self, model: str, messages: list[dict[str, str]]) -> Completion: ...


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    DUPLICATE = "duplicate"
    INVALID = "invalid"
    """Not a CloudEvent at all: nothing to record, never worth redelivering."""


class BadRequest(ValueError):
    """A valid envelope whose ``data`` is not a chat request; recorded as a failure."""


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, str]]


def chat_request(data: Any, default_model: str) -> ChatRequest:
    """``data`` is ``{"messages": [...]}`` or ``{"prompt": "..."}``, optionally with a model."""
    if not isinstance(data, dict):
        raise BadRequest("data must be a JSON object")
    model = data.get("model") or default_model
    if not isinstance(model, str):
        raise BadRequest("data.model must be a string")
    if "messages" in data:
        messages = data["messages"]
        if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict)
            and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str)
            for m in messages
        ):
            raise BadRequest("data.messages must be a non-empty list of {role, content}")
        return ChatRequest(model, [{"role": m["role"], "content": m["content"]} for m in messages])
    prompt = data.get("prompt")
    if isinstance(prompt, str) and prompt:
        return ChatRequest(model, [{"role": "user", "content": prompt}])
    raise BadRequest("data needs either messages or prompt")


class Executor:
    def __init__(
        self,
        settings: Settings,
        store: ExecutionStore,
        dedup: Deduplicator,
        chat: Chat,
        publish: Publish,
    ) -> None:
        self._settings = settings
        self._store = store
        self._dedup = dedup
        self._chat = chat
        self._publish = publish

    async def handle(self, raw: bytes) -> Outcome:
        """Run one request. Raises only for infrastructure failures (then retry later)."""
        try:
            event = parse(raw)
        except InvalidEvent as exc:
            log.warning("dropping a message that is not a CloudEvent: %s", exc)
            return Outcome.INVALID
        if not await self._dedup.claim(event.id):
            log.info("event %s already processed; skipping the redelivery", event.id)
            return Outcome.DUPLICATE
        try:
            return await self._execute(event)
        except BaseException:
            # Not our verdict but a broken dependency: forget the claim so that
            # JetStream's redelivery is processed instead of skipped.
            await self._dedup.release(event.id)
            raise

    async def _execute(self, event: CloudEvent) -> Outcome:
        try:
            request: ChatRequest | None = chat_request(event.data, self._settings.model)
            problem = ""
        except BadRequest as exc:
            request, problem = None, str(exc)
        model = request.model if request else self._settings.model
        execution_id = await self._store.start(event.id, event.source, model, event.data)
        if execution_id is None:
            log.info("event %s already has an execution row; skipping", event.id)
            return Outcome.DUPLICATE
        base = {"request_id": event.id, "execution_id": str(execution_id)}

        if request is None:
            return await self._fail(event, execution_id, base, LLMError(f"bad request: {problem}"))
        try:
            completion = await self._chat.complete(request.model, request.messages)
        except LLMError as exc:
            return await self._fail(event, execution_id, base, exc)

        response = {
            "output": completion.content,
            "model": completion.model,
            "usage": completion.usage,
        }
        await self._store.complete(execution_id, response)
        await self._publish(
            self._settings.completed_subject,
            CloudEvent(type=COMPLETED_TYPE, source=SOURCE, subject=event.id,
                       data={**base, **response}),
        )
        log.info("event %s completed (execution %s)", event.id, execution_id)
        return Outcome.COMPLETED

    async def _fail(
        self, event: CloudEvent, execution_id: Any, base: dict[str, str], error: LLMError
    ) -> Outcome:
        await self._store.fail(execution_id, error.message)
        await self._publish(
            self._settings.failed_subject,
            CloudEvent(type=FAILED_TYPE, source=SOURCE, subject=event.id,
                       data={**base, "error": error.to_dict()}),
        )
        log.warning("event %s failed (execution %s): %s", event.id, execution_id, error.message)
        return Outcome.FAILED
