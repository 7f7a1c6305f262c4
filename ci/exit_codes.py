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
    INTERRUPTED = 130


DESCRIPTIONS: dict[ExitCode, str] = {
    ExitCode.OK: "every stage passed",
    ExitCode.TESTS_FAILED: "the suite ran and at least one test failed or errored",
    ExitCode.CONFIG: "usage, configuration or missing-environment error; nothing was started",
    ExitCode.INFRA: "infrastructure error: a backend did not come up, a migration failed",
    ExitCode.INTERRUPTED: "interrupted (SIGINT/SIGTERM); everything started was torn down",
}

SEVERITY: tuple[int, ...] = (ExitCode.OK, ExitCode.TESTS_FAILED, ExitCode.CONFIG, ExitCode.INFRA,
                             ExitCode.INTERRUPTED)
"""Least to most severe: the order in which several runs' codes are reduced to one.

An interrupted run says least about the code under test, then a broken
infrastructure, then a broken configuration; a test failure is the one
outcome that means everything else worked. A code outside the table (a crash)
counts as infrastructure.
"""


def worst(codes: Iterable[int]) -> int:
    """The most severe of ``codes`` (0 for none): how several results become one exit code."""
    known = [code if code in SEVERITY else int(ExitCode.INFRA) for code in codes]
    return max(known, key=SEVERITY.index, default=0)
