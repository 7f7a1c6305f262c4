"""Retries that are never silent: exponential backoff with full jitter, bounded twice.

A throttled Parameter Store call that is retried quietly looks like a hang
(chamber#101). Every retry here goes through ``on_retry`` (Tier 2 prints it)
and is counted, and a retry loop ends on whichever comes first: the attempt
limit or the time budget. Only errors ``retryable`` says yes to are retried.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    """Calls in all, the first one included."""
    max_seconds: float = 30.0
    """Wall-clock budget for the whole loop; no sleep may cross it."""
    base: float = 0.2
    cap: float = 5.0

    def delay(self, retry: int, rng: Callable[[], float] = random.random) -> float:
        """Full jitter: a uniform pick in [0, min(cap, base * 2**retry))."""
        return float(rng() * min(self.cap, self.base * 2.0 ** retry))


@dataclass
class RetryStats:
    calls: int = 0
    retries: int = 0
    slept: float = 0.0


class RetriesExhausted(Exception):
    """The last retryable error, raised after the attempt or time budget ran out."""

    def __init__(self, last: BaseException, stats: RetryStats, why: str) -> None:
        super().__init__(f"{why}: {last}")
        self.last = last
        self.why = why


def call_with_retries(
    fn: Callable[[], T],
    *,
    retryable: Callable[[BaseException], bool],
    policy: RetryPolicy,
    stats: RetryStats,
    on_retry: Callable[[int, float, BaseException], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: Callable[[], float] = random.random,
) -> T:
    """Call ``fn`` until it returns, a non-retryable error, or a budget runs out.

    ``on_retry(retry_number, delay, error)`` runs before each sleep.
    """
    started = clock()
    retry = 0
    while True:
        stats.calls += 1
        try:
            return fn()
        except Exception as exc:
            if not retryable(exc):
                raise
            if retry + 1 >= policy.max_attempts:
                raise RetriesExhausted(
                    exc, stats, f"gave up after {policy.max_attempts} attempts"
                ) from exc
            delay = policy.delay(retry, rng)
            if clock() - started + delay > policy.max_seconds:
                raise RetriesExhausted(
                    exc, stats, f"gave up: next retry would pass the {policy.max_seconds:g}s budget"
                ) from exc
            retry += 1
            stats.retries += 1
            stats.slept += delay
            on_retry(retry, delay, exc)
            sleep(delay)
