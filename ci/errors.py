"""Errors that end a run with a documented exit code and a one-screen message.

Every error the framework raises on purpose is a :class:`TiersError`: it carries
the exit code, a message that names the file, key or service at fault, and a
hint saying what to do. The CLI prints ``message`` and ``hint`` and exits with
``code``; tracebacks are reserved for bugs.
"""

from __future__ import annotations

from ci.exit_codes import ExitCode


class TiersError(Exception):
    """Base class: an expected failure with an exit code and advice."""

    code: ExitCode = ExitCode.INFRA

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        text = f"error: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class ConfigError(TiersError):
    """Bad usage, a bad declaration, or a missing/malformed environment variable."""

    code = ExitCode.CONFIG


class InfraError(TiersError):
    """A backend, probe or migration failed: the code under test never ran (fully)."""

    code = ExitCode.INFRA


class SuiteError(TiersError):
    """pytest could not run the suite as declared, after the backends were started."""

    code = ExitCode.SUITE


class BackendDied(InfraError):
    """A server process or container exited while we were waiting on it."""


class Interrupted(BaseException):
    """Raised from the SIGTERM handler so SIGTERM unwinds exactly like Ctrl-C.

    A BaseException (like KeyboardInterrupt) so broad ``except Exception``
    blocks in user hooks cannot swallow it.
    """
