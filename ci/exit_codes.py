"""The exit codes every tier uses, in one place so docs and code cannot drift.

Tier 1 (GitHub Actions) only sees the code Tier 2 returns, and Tier 2 passes
Tier 3's code through unchanged: an on-call engineer can tell from the code
alone whether to look at the tests, the configuration or the infrastructure.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class ExitCode(enum.IntEnum):
    """Documented process exit codes (see docs/configuration.md)."""

    OK = 0
    TESTS_FAILED = 1
    CONFIG = 2
    INFRA = 3
    SUITE = 4
    INTERRUPTED = 130


DESCRIPTIONS: dict[ExitCode, str] = {
    ExitCode.OK: "every stage passed",
    ExitCode.TESTS_FAILED: "the suite ran and at least one test failed or errored",
    ExitCode.CONFIG: "usage, declaration or environment error, found before anything was "
    "started",
    ExitCode.INFRA: "infrastructure error: a backend did not come up or died, a migration "
    "failed, the framework itself failed",
    ExitCode.SUITE: "the backends came up but pytest could not run the suite as declared "
    "(bad pytest arguments, or no tests collected)",
    ExitCode.INTERRUPTED: "interrupted (SIGINT/SIGTERM); everything started was torn down",
}


SEVERITY: tuple[ExitCode, ...] = (
    ExitCode.OK, ExitCode.TESTS_FAILED, ExitCode.CONFIG, ExitCode.SUITE, ExitCode.INFRA,
    ExitCode.INTERRUPTED,
)
"""Least to most severe: the code of several runs together is the most severe one."""


def worst(codes: Iterable[int]) -> int:
    """The most severe of ``codes`` (0 for none); a code outside the table (a crash,
    a signal) counts as infrastructure, never as "tests failed"."""
    known = [code if code in SEVERITY else int(ExitCode.INFRA) for code in codes]
    return int(max(known, key=SEVERITY.index, default=0))
