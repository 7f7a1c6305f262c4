"""A session's documented exit code survives nox, without stopping nox.

nox turns every failed session into exit 1, and a session that ends the
process itself (``raise SystemExit(code)``) robs nox of the rest of its work:
the next requested sessions, the summary, ``--report``. So a failing session
records its code here and fails the nox way (``session.error``); nox carries
on and, when it has finished and is exiting non-zero, a hook registered with
:mod:`atexit` replaces nox's 1 by the worst recorded code (by
:data:`ci.exit_codes.SEVERITY`). Tier 1 can then still tell a test failure
(1) from a configuration (2) or infrastructure (3) error.

The hook is installed only by the noxfile's :func:`ci.tier2.register`, so a
test that runs a session body in-process records a code without touching
its own exit status.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
from typing import Any, NoReturn

from ci.console import Console
from ci.exit_codes import DESCRIPTIONS, ExitCode, worst

_recorded: list[int] = []
_installed = False


def record(code: int) -> None:
    """Remember a session's exit code (0 is ignored)."""
    if code:
        _recorded.append(int(code))


def recorded() -> int:
    """The worst code recorded so far (0 for none)."""
    return worst(_recorded)


def meaning(code: int) -> str:
    try:
        return DESCRIPTIONS[ExitCode(code)]
    except ValueError:
        return "unexpected exit code"


def fail(session: Any, code: int, what: str, console: Console | None = None) -> None:
    """End a session with ``code`` the nox way; returns only when ``code`` is 0.

    An interrupted run (130: Ctrl-C, a cancelled job) stops nox altogether, as
    Ctrl-C on nox itself would: no further session starts.
    """
    if code == 0:
        return
    record(code)
    (console or Console(prefix="tier2")).error(f"{what}: exit {code} ({meaning(code)})")
    if code == ExitCode.INTERRUPTED:
        raise KeyboardInterrupt
    _error(session, f"{what} exited {code}")


def _error(session: Any, message: str) -> NoReturn:
    session.error(message)
    raise AssertionError("session.error returned")  # pragma: no cover - nox raises


def install_exit_hook() -> None:
    """At interpreter exit, exit with the worst recorded code instead of nox's 1."""
    global _installed
    if not _installed:
        atexit.register(_apply)
        _installed = True


def _apply() -> None:
    code = recorded()
    if not code:
        return  # nothing of ours failed: nox's own code stands
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
