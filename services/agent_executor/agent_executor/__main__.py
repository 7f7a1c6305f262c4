"""``python -m agent_executor``: consume until SIGTERM / SIGINT, then shut down cleanly.

A clean stop finishes the batch in hand before closing, so a rolling deploy
does not turn every in-flight request into a redelivery.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from agent_executor.config import ConfigError, Settings
from agent_executor.consumer import Consumer


async def serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    consumer = await Consumer.connect(settings)
    try:
        await consumer.run(stop)
    finally:
        await consumer.close()


def main() -> int:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"agent_executor: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
