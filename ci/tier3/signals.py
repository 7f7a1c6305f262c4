"""Make SIGTERM unwind like Ctrl-C, and keep teardown from being interrupted.

CI runners stop jobs with SIGTERM; without a handler Python dies on the spot
and nothing in ``finally`` runs. Teardown itself is shielded: a second Ctrl-C
while servers are being stopped is noted, not obeyed, since obeying it is how
containers leak (pytest-docker #33).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from ci.errors import Interrupted


def _raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def shielded(on_signal: str = "") -> Iterator[list[int]]:
    """Defer SIGINT/SIGTERM for the block; yields the list of signals received."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def note(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        if on_signal:
            print(on_signal, flush=True)

    old_int = signal.signal(signal.SIGINT, note)
    old_term = signal.signal(signal.SIGTERM, note)
    try:
        yield received
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
