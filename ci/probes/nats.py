"""NATS is ready when a client connects and, with JetStream, the account info answers.

A bare connect succeeds before JetStream has finished starting; suites that
create streams fail on that window, so the JetStream API is part of the check.
"""

from __future__ import annotations

import asyncio

from ci.endpoints import Endpoint
from ci.probes.base import ATTEMPT_TIMEOUT


class NatsProbe:
    def __init__(self, *, jetstream: bool = True) -> None:
        self.jetstream = jetstream
        self.description = "nats connect + JetStream account info" if jetstream else "nats connect"

    def check(self, endpoint: Endpoint) -> None:
        asyncio.run(self._check(endpoint.url))

    async def _check(self, url: str) -> None:
        import nats

        async def _quiet(*_args: object) -> None:
            return None

        nc = await nats.connect(
            url,
            connect_timeout=ATTEMPT_TIMEOUT,
            allow_reconnect=False,
            max_reconnect_attempts=0,
            error_cb=_quiet,
        )
        try:
            if self.jetstream:
                await nc.jetstream().account_info()
        finally:
            await nc.close()
