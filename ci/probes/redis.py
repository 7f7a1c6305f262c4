"""A Redis-protocol server is ready when it answers PING (Redis, Dragonfly, Valkey alike)."""

from __future__ import annotations

from ci.endpoints import Endpoint
from ci.probes.base import ATTEMPT_TIMEOUT


class RedisProbe:
    description = "redis PING"

    def check(self, endpoint: Endpoint) -> None:
        import redis

        client = redis.Redis(
            host=endpoint.host,
            port=endpoint.port,
            socket_timeout=ATTEMPT_TIMEOUT,
            socket_connect_timeout=ATTEMPT_TIMEOUT,
        )
        try:
            if not client.ping():
                raise RuntimeError("PING did not return PONG")
        finally:
            client.close()
