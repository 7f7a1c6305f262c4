"""Processed event ids in a Redis-protocol store (Dragonfly in production).

JetStream delivers at least once, and producers retry: the same CloudEvent id
can arrive again. ``SET key 1 NX EX ttl`` is one atomic round trip that both
asks "seen before?" and claims the id, so two consumers racing on the same
event cannot both win. A claim is released when processing fails for an
infrastructure reason, so JetStream's redelivery gets another go.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from agent_executor.config import Settings


class Deduplicator:
    def __init__(self, client: aioredis.Redis, prefix: str, ttl: int) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl = ttl

    @classmethod
    def from_settings(cls, settings: Settings) -> Deduplicator:
        client = aioredis.Redis(
            host=settings.dragonfly_host, port=settings.dragonfly_port, socket_timeout=10
        )
        return cls(client, settings.dedup_prefix, settings.dedup_ttl)

    def key(self, event_id: str) -> str:
        return self._prefix + event_id

    async def claim(self, event_id: str) -> bool:
        """True if this is the first time ``event_id`` is seen (and it is now claimed)."""
        return bool(await self._client.set(self.key(event_id), b"1", nx=True, ex=self._ttl))

    async def release(self, event_id: str) -> None:
        await self._client.delete(self.key(event_id))

    async def close(self) -> None:
        await self._client.aclose()
