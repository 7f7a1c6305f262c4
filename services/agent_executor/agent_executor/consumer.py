"""The JetStream side: the stream, a durable pull consumer, and ack / nak / term.

A pull consumer lets the service take one batch at a time and only ask for more
when it is done, so a slow LLM cannot make messages pile up in client memory and
time out there. Delivery is at least once; :mod:`agent_executor.dedup` makes
processing effectively once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig
from nats.js.errors import NotFoundError

from agent_executor.cloudevents import CONTENT_TYPE, CloudEvent
from agent_executor.config import Settings
from agent_executor.dedup import Deduplicator
from agent_executor.executor import Executor, Outcome
from agent_executor.llm import ChatClient
from agent_executor.store import ExecutionStore

log = logging.getLogger(__name__)

RETRY_DELAY = 2.0
"""Seconds before JetStream redelivers a message whose processing hit a broken dependency."""


async def ensure_stream(js: JetStreamContext, settings: Settings) -> None:
    """Create the stream holding requests and results unless it exists."""
    try:
        await js.stream_info(settings.stream)
    except NotFoundError:
        await js.add_stream(
            StreamConfig(name=settings.stream, subjects=[f"{settings.subject_prefix}.>"])
        )
        log.info("created stream %s", settings.stream)


class Consumer:
    def __init__(
        self,
        settings: Settings,
        nc: NATS,
        sub: JetStreamContext.PullSubscription,
        executor: Executor,
        closers: list[Any],
    ) -> None:
        self.settings = settings
        self._nc = nc
        self._sub = sub
        self.executor = executor
        self._closers = closers

    @classmethod
    async def connect(cls, settings: Settings) -> Consumer:
        """Open every connection; close what was opened if a later one fails."""
        closers: list[Any] = []
        try:
            store = await ExecutionStore.connect(settings)
            closers.append(store)
            dedup = Deduplicator.from_settings(settings)
            closers.append(dedup)
            nc = await nats.connect(settings.nats_url, name="agent_executor")
            js = nc.jetstream()
            await ensure_stream(js, settings)
            sub = await js.pull_subscribe(
                settings.request_subject,
                durable=settings.consumer,
                stream=settings.stream,
                config=ConsumerConfig(
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=settings.ack_wait,
                    max_deliver=settings.max_deliver,
                ),
            )
        except BaseException:
            for closer in reversed(closers):
                await closer.close()
            raise

        async def publish(subject: str, event: CloudEvent) -> None:
            # The Nats-Msg-Id makes a re-sent result a no-op inside JetStream's
            # duplicate window: one request, one result event.
            await js.publish(
                subject,
                event.to_json(),
                headers={
                    "Content-Type": CONTENT_TYPE,
                    "Nats-Msg-Id": f"{event.type}:{event.subject}",
                },
            )

        chat = ChatClient(settings.openai_base_url, settings.openai_api_key, settings.llm_timeout)
        executor = Executor(settings, store, dedup, chat, publish)
        return cls(settings, nc, sub, executor, closers)

    async def handle_message(self, msg: Msg) -> Outcome | None:
        """Process one delivery and settle it; ``None`` means it was nak'ed for a retry."""
        try:
            outcome = await self.executor.handle(msg.data)
        except Exception:
            log.exception("processing failed on a dependency; asking for redelivery")
            await msg.nak(delay=RETRY_DELAY)
            return None
        if outcome is Outcome.INVALID:
            await msg.term()
        else:
            await msg.ack_sync()
        return outcome

    async def process_batch(self, batch: int = 10, timeout: float = 1.0) -> list[Outcome | None]:
        """Fetch up to ``batch`` messages (waiting at most ``timeout``) and handle each in turn."""
        try:
            msgs = await self._sub.fetch(batch, timeout=timeout)
        except (TimeoutError, NatsTimeout):
            return []
        return [await self.handle_message(msg) for msg in msgs]

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; the batch in hand is finished first."""
        log.info("consuming %s from stream %s", self.settings.request_subject, self.settings.stream)
        while not stop.is_set():
            await self.process_batch()

    async def close(self) -> None:
        try:
            await self._sub.unsubscribe()
        finally:
            await self._nc.close()
            for closer in reversed(self._closers):
                await closer.close()
