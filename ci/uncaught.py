"""Mistakes that end a runner file before ``main()`` can catch them: exit 2, no traceback.

A runner (``services/<name>/ci/tier3.py``) runs its declaration at import time,
outside every error handler of the CLI: ``from ci import mysql`` (a kind that
does not exist) or a :class:`~ci.errors.TiersError` raised by a declaration
would print a traceback and exit 1, which reads as "tests failed". The hook
installed here turns exactly those into the usual one-screen error and exit
2; any other uncaught exception is left to the previous hook.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from types import TracebackType

from ci.errors import ConfigError, TiersError

_previous = sys.excepthook


def _unknown_name(exc: ImportError) -> ConfigError | None:
    """``cannot import name 'x' from 'ci'`` as a ConfigError listing what ``ci`` offers."""
    if exc.name != "ci":
        return None
    found = re.search(r"cannot import name '([^']+)'", str(exc))
    if found is None:
        return None
    import ci
    from ci.kinds import KINDS

    wrong = found.group(1)
    close = difflib.get_close_matches(wrong, ci.__all__, n=1, cutoff=0.6)
    mean = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"{_runner()}: `from ci import {wrong}`: ci has no {wrong!r}{mean}",
                       hint=f"kinds of backing service: {', '.join(KINDS)}; "
                       "also: Service, Suite, secret, var; nothing was started")


def _runner() -> str:
    main = sys.modules.get("__main__")
    return getattr(main, "__file__", None) or "the runner"


def _hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    error = exc if isinstance(exc, TiersError) else (
        _unknown_name(exc) if isinstance(exc, ImportError) else None)
    if error is None:
        _previous(kind, exc, tb)
        return
    sys.stdout.flush()
    print(error.render(), file=sys.stderr, flush=True)
    os._exit(int(error.code))  # the interpreter would exit 1 after any hook


def install() -> None:
    """Install once per process (importing ``ci`` calls it)."""
    if sys.excepthook is not _hook:
        sys.excepthook = _hook
