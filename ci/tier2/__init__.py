"""Tier 2: the nox sessions between GitHub Actions and a service's Tier 3 runner.

``noxfile.py`` calls :func:`register`; everything else (discovery, .env layers,
Parameter Store, validation, install, hand-off) lives in one module per concern.
Importing this package needs only nox and the standard library; python-dotenv
and boto3 are imported when a session uses them.
"""

from __future__ import annotations

import time
from pathlib import Path

LOADED_AT = time.monotonic()
"""When the noxfile imported Tier 2: the start of the "seconds before Tier 3" clock."""

__all__ = ["register"]


def __dir__() -> list[str]:
    return __all__


def register(repo_root: str | Path, *, exit_hook: bool = True) -> list[str]:
    """Register ``integration-<service>`` per service and the framework's sessions.

    With ``exit_hook`` (the default, for the noxfile) nox exits with the worst
    documented code a session recorded instead of its own 1.
    """
    from ci.tier2.sessions import register as _register

    return _register(Path(repo_root).resolve(), exit_hook=exit_hook)
