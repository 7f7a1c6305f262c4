"""The run's Pods as the last watch event left them, readable from any thread.

The engine's watchdog asks whether each server is alive about every 0.3 s,
from its own thread. Asking the API server each time would be a request
storm; instead one watch (on the client's loop) keeps this cache current,
readers take a lock, and waiters are woken on every change.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from ci.backends.kubernetes.client import KubeClient

RELIST_PAUSE = 0.5


def gone(pod: dict[str, Any]) -> dict[str, Any]:
    """A Pod deleted under a running suite: failed, so the watchdog reports it."""
    status = {**(pod.get("status") or {}), "phase": "Failed", "reason": "Deleted",
              "message": "the Pod was deleted while the run used it"}
    return {**pod, "status": status}


class PodCache:
    def __init__(self) -> None:
        self._pods: dict[str, dict[str, Any]] = {}
        self._changed = threading.Condition()
        self.error = ""
        """The last watch failure (the watch re-lists and goes on), for messages."""

    def update(self, pod: dict[str, Any]) -> None:
        with self._changed:
            self._pods[str(pod["metadata"]["name"])] = pod
            self._changed.notify_all()

    def get(self, name: str) -> dict[str, Any] | None:
        with self._changed:
            return self._pods.get(name)

    def wait(self, timeout: float) -> None:
        """Return after the next change, or after ``timeout`` seconds."""
        with self._changed:
            self._changed.wait(timeout=timeout)

    def follow(self, client: KubeClient, namespace: str, label_selector: str) -> None:
        """List, then watch, the matching Pods until the client closes; re-list on any end."""
        async def watch() -> None:
            from kr8s.asyncio.objects import Pod

            api = await client.api()
            while True:
                try:
                    async for obj in api.async_get(Pod, namespace=namespace,
                                                   label_selector=label_selector):
                        self.update(dict(obj.raw))
                    async for event, obj in api.async_watch(Pod, namespace=namespace,
                                                            label_selector=label_selector):
                        self.update(gone(dict(obj.raw)) if event == "DELETED"
                                    else dict(obj.raw))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a dropped watch is re-listed, not fatal
                    self.error = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(RELIST_PAUSE)

        client.spawn(watch)
