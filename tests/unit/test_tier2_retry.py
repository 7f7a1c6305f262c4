"""Backoff accounting: bounded by attempts and by time, every retry reported."""

from __future__ import annotations

import pytest

from ci.tier2.retry import RetriesExhausted, RetryPolicy, RetryStats, call_with_retries


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def failing(times: int):  # type: ignore[no-untyped-def]
    state = {"left": times}

    def fn() -> str:
        if state["left"]:
            state["left"] -= 1
            raise TimeoutError("busy")
        return "ok"

    return fn


def run(fn, policy: RetryPolicy, rng: float = 1.0):  # type: ignore[no-untyped-def]
    clock = Clock()
    stats = RetryStats()
    seen: list[tuple[int, float]] = []
    result = call_with_retries(
        fn, retryable=lambda e: isinstance(e, TimeoutError), policy=policy, stats=stats,
        on_retry=lambda n, d, e: seen.append((n, d)), sleep=clock.sleep, clock=clock,
        rng=lambda: rng,
    )
    return result, stats, seen, clock


def test_exponential_delays_capped_and_counted() -> None:
    result, stats, seen, clock = run(failing(4), RetryPolicy(max_attempts=10, base=0.5, cap=2.0))
    assert result == "ok"
    assert [d for _, d in seen] == [0.5, 1.0, 2.0, 2.0]
    assert [n for n, _ in seen] == [1, 2, 3, 4]
    assert (stats.calls, stats.retries, stats.slept) == (5, 4, 5.5)
    assert clock.now == 5.5


def test_jitter_scales_the_delay_down() -> None:
    _, _, seen, _ = run(failing(2), RetryPolicy(base=1.0, cap=10.0), rng=0.25)
    assert [d for _, d in seen] == [0.25, 0.5]


def test_attempt_budget() -> None:
    with pytest.raises(RetriesExhausted, match="3 attempts") as info:
        run(failing(99), RetryPolicy(max_attempts=3, base=0.01))
    assert isinstance(info.value.last, TimeoutError)


def test_time_budget_ends_the_loop_before_a_sleep_would_cross_it() -> None:
    with pytest.raises(RetriesExhausted, match="budget"):
        run(failing(99), RetryPolicy(max_attempts=100, max_seconds=3.0, base=1.0, cap=1.0))


def test_non_retryable_errors_pass_straight_through() -> None:
    def boom() -> str:
        raise ValueError("no")

    with pytest.raises(ValueError):
        run(boom, RetryPolicy())
