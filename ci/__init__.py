"""tiers: integration-test CI in three Python tiers.

Tier 1 is a GitHub Actions workflow calling one nox session; Tier 2 is that
session (``ci.tier2``); Tier 3 is a service's runner, ``services/<name>/ci/tier3.py``,
built from the declarations exported here.
"""

from typing import TYPE_CHECKING, Any

from ci.backing import Backing
from ci.exit_codes import ExitCode
from ci.kinds import factories
from ci.service import EnvVar, Service, Suite, secret, var
from ci.stages import Stage
from ci.uncaught import install as _install_uncaught_hook

# Every registered kind's factory (postgres, redis, nats, http, tcp, ...) is
# importable from here: a new kind needs no edit in this file.
_KIND_FACTORIES: dict[str, Any] = factories()
globals().update(_KIND_FACTORIES)
_install_uncaught_hook()  # `from ci import mysql` in a runner: exit 2, not a traceback

if TYPE_CHECKING:  # for editors and mypy; at run time the registry above decides
    from ci.kinds.http import http as http
    from ci.kinds.memcached import memcached as memcached
    from ci.kinds.nats import nats as nats
    from ci.kinds.postgres import postgres as postgres
    from ci.kinds.redis import redis as redis
    from ci.kinds.tcp import tcp as tcp

__all__ = ["Backing", "EnvVar", "ExitCode", "Service", "Stage", "Suite", "secret", "var",
           *_KIND_FACTORIES]


def __dir__() -> list[str]:
    return __all__
