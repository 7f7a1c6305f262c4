"""The exit codes every tier uses, in one place so docs and code cannot drift.

Tier 1 (GitHub Actions) only sees the code Tier 2 returns, and Tier 2 passes
Tier 3's code through unchanged: an on-call engineer can tell from the code
alone whether to look at the tests, the configuration or the infrastructure.
"""

from __future__ import annotations

import enum


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
