"""tiers: integration-test CI in three Python tiers.

Tier 1 is a GitHub Actions workflow calling one nox session; Tier 2 is that
session (``ci.tier2``); Tier 3 is a service's runner, ``services/<name>/ci/tier3.py``,
built from the declarations exported here.
"""

from ci.exit_codes import ExitCode
from ci.service import (
    Backing,
    EnvVar,
    Service,
    Suite,
    http,
    nats,
    postgres,
    redis,
    secret,
    tcp,
    var,
)

__all__ = [
    "Backing",
    "EnvVar",
    "ExitCode",
    "Service",
    "Suite",
    "http",
    "nats",
    "postgres",
    "redis",
    "secret",
    "tcp",
    "var",
]


def __dir__() -> list[str]:
    return __all__
