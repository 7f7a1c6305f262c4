"""Wait until every backend passes its probe, failing fast on a dead server.

Backoff starts at 10 ms and doubles to 250 ms: readiness is noticed within a
few tens of milliseconds instead of after a fixed ``sleep 2``, and a slow
server is not hammered. Before every attempt the backend is asked whether the
process or container is still alive, so a crash fails the wait at once with
the server's log tail (testcontainers-python #681 kept waiting on the dead).
Backends are waited on in parallel threads: the stage takes as long as the
slowest backend, not the sum.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass

from ci.backends.base import Backend
from ci.backing import Backing
from ci.errors import BackendDied, InfraError
from ci.masking import redact
from ci.probes import Rejected, probe_for

FIRST_DELAY = 0.01
MAX_DELAY = 0.25


@dataclass(frozen=True)
class Ready:
    backing: Backing
    seconds: float
    attempts: int


def _tail_block(text: str) -> str:
    text = redact(text.rstrip())
    if not text:
        return "  (the log is empty)"
    return "\n".join("  | " + line for line in text.splitlines())


def wait_for(
    backend: Backend,
    backing: Backing,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    stop: threading.Event | None = None,
) -> Ready:
    probe = probe_for(backing)
    start = clock()
    deadline = start + backing.timeout
    delay = FIRST_DELAY
    attempts = 0
    last_error = "no attempt finished"
    while True:
        if stop is not None and stop.is_set():
            raise _Cancelled()
        try:
            backend.check_alive(backing)
        except BackendDied as died:
            raise BackendDied(
                f"{backing.name}: {died.message} during the wait "
                f"(after {clock() - start:.1f}s). Last lines of its log:\n"
                + _tail_block(backend.log_tail(backing)),
                hint=died.hint,
            ) from None
        attempts += 1
        try:
            if not backend.native_ready(backing):
                raise RuntimeError("platform healthcheck not healthy yet")
            probe.check(backend.endpoint(backing))
            return Ready(backing, clock() - start, attempts)
        except (BackendDied, InfraError):
            raise
        except Rejected as exc:
            raise InfraError(
                f"{backing.name} ({backing.kind_name}) refused the probe for good after "
                f"{clock() - start:.1f}s: {redact(str(exc))}",
                hint="the declaration and the server disagree (credentials, database name): "
                "declare them once in tier3.py; the compose backend passes them to the "
                "container",
            ) from None
        except Exception as exc:  # any failure of an attempt means "not yet"
            last_error = f"{type(exc).__name__}: {exc}".strip()
        if clock() >= deadline:
            raise InfraError(
                f"{backing.name} ({backing.kind_name}) not ready after {backing.timeout:g}s; "
                f"probe: {probe.description}; {attempts} attempts; last error: "
                f"{redact(last_error)}\nLast lines of its log:\n"
                + _tail_block(backend.log_tail(backing)),
                hint=f"raise timeout= on the {backing.name!r} backend if it is just slow, "
                "or read the full log in the run's artifacts",
            )
        sleep(min(delay, max(0.0, deadline - clock())))
        delay = min(delay * 2, MAX_DELAY)


class _Cancelled(Exception):
    """Another backend already failed (or the run was interrupted): stop polling."""


def wait_all(backend: Backend, backings: Sequence[Backing]) -> list[Ready]:
    """Wait for all in parallel; the first real failure ends every wait at once."""
    if not backings:
        return []
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=len(backings), thread_name_prefix="wait")
    try:
        futures = [pool.submit(wait_for, backend, b, stop=stop) for b in backings]
        done, _ = wait_futures(futures, return_when=FIRST_EXCEPTION)
        for fut in futures:
            if fut in done and fut.exception() is not None:
                raise fut.exception()  # type: ignore[misc]
        return [fut.result() for fut in futures]
    finally:
        # On failure or Ctrl-C, the other threads notice within one backoff step.
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
