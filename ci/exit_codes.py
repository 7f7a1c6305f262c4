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
    """Every stage passed."""
    TESTS_FAILED = 1
    """The suite ran and at least one test failed (or errored)."""
    CONFIG = 2
    """Usage, configuration or missing-environment error; nothing was started."""
    INFRA = 3
    """Infrastructure error: a backend did not come up, a migration failed."""
    INTERRUPTED = 130
    """Interrupted by SIGINT (Ctrl-C) or SIGTERM; everything started was torn down."""


DESCRIPTIONS: dict[ExitCode, str] = {code: (code.__doc__ or "").strip() for code in ExitCode}
