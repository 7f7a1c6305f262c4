"""The JetStream side: the stream, a durable pull consumer, and ack / nak / term.

A pull consumer lets the service ask for the next message only when it is done
with the last one, so a slow LLM cannot make messages pile up in client memory
while their ack wait runs out. Delivery is at least once;
:mod:`agent_executor.dedup` makes processing effectively once.

Every verdict (ack, term, nak) is sent as a request and waits for the server's
confirmation: a fire-and-forget ack can still sit in the client's buffer when
the connection closes, and the message then comes back a whole ack wait later.
"""

from __future__ import annotations

import asyncio
import json
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

POLL_SECONDS = 5.0
"""How long one idle pull request waits for a message. Stopping never waits for it."""

ACK = b"+ACK"
TERM = b"+TERM"


def nak(delay: float) -> bytes:
    """A negative ack asking JetStream to redeliver after ``delay`` seconds."""
    return b"-NAK " + json.dumps({"delay": int(delay * 1e9)}).encode()


async def settle(nc: NATS, msg: Msg, verdict: bytes, timeout: float) -> bool:
    """Send ``verdict`` for ``msg`` and wait until the server has applied it.

    False (and a warning) if no confirmation came in time: the server may or may
    not have applied it, and if not, the message is redelivered after the ack
    wait and recognised as a duplicate. That is never a reason to stop consuming.
    """
    try:
        await nc.request(msg.reply, verdict, timeout=timeout)
    except (TimeoutError, nats.errors.Error) as exc:
        log.warning("no confirmation of %s for %s: %r", verdict.split()[0].decode(),
                    msg.reply, exc)
        return False
    return True


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
            js = nc.jetstream(timeout=settings.nats_timeout)
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
            await self._settle(msg, nak(RETRY_DELAY))
            return None
        await self._settle(msg, TERM if outcome is Outcome.INVALID else ACK)
        return outcome

    async def _settle(self, msg: Msg, verdict: bytes) -> bool:
        return await settle(self._nc, msg, verdict, self.settings.nats_timeout)

    async def process_batch(self, batch: int = 10, timeout: float = 1.0) -> list[Outcome | None]:
        """Fetch up to ``batch`` messages (waiting at most ``timeout``) and handle each in turn."""
        try:
            msgs = await self._sub.fetch(batch, timeout=timeout)
        except (TimeoutError, NatsTimeout):
            return []
        return [await self.handle_message(msg) for msg in msgs]

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; the message in hand is finished first.

        An idle wait for the next message is cut short by ``stop``, so a
        SIGTERM is acted on at once rather than when the pull request expires.
        """
        log.info("consuming %s from stream %s", self.settings.request_subject, self.settings.stream)
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                msg = await self._next_message(stopping)
                if msg is not None:
                    await self.handle_message(msg)
        finally:
            stopping.cancel()

    async def _next_message(self, stopping: asyncio.Future[Any]) -> Msg | None:
        """The next delivery, or ``None`` when the poll expired or a stop came first.

        A one-message fetch returns the moment its message arrives, so
        cancelling it cannot drop a message it already holds. One the server
        sends after the cancel waits in the subscription for the next fetch
        (or, once closed, is redelivered after the ack wait).
        """
        fetch = asyncio.ensure_future(self._sub.fetch(1, timeout=POLL_SECONDS))
        try:
            await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not fetch.done():
                fetch.cancel()
        # wait() rather than `await fetch`: a cancelled fetch must not look like
        # this task being cancelled (which must propagate, and does from here).
        await asyncio.wait({fetch})
        if fetch.cancelled():
            return None
        exc = fetch.exception()
        if isinstance(exc, (TimeoutError, NatsTimeout)):
            return None
        if exc is not None:
            raise exc
        return fetch.result()[0]

    async def close(self) -> None:
        try:
            await self._sub.unsubscribe()
        finally:
            await self._nc.close()
            for closer in reversed(self._closers):
                await closer.close()
