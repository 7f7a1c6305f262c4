"""Which services exist, as far as Tier 1 is concerned: folders, not imports.

A service is a folder ``services/<name>/`` holding ``ci/tier3.py``. Tier 1 only
needs the names, and generating YAML must never run a service's code (a broken
declaration must not break ``--check``), so this globs and does not import.
Names become file names, nox session names and matrix values, so anything
outside a conservative character set is refused here, once.
"""

from __future__ import annotations

import re
from pathlib import Path

from ci.errors import ConfigError

TIER3 = Path("ci") / "tier3.py"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def repo_root() -> Path:
    """The checkout holding ``ci/`` and ``services/`` (this file is ``ci/tier1/discovery.py``)."""
    return Path(__file__).resolve().parents[2]


def service_names(root: Path | None = None) -> list[str]:
    """Sorted names of the services under ``root/services``."""
    base = (root or repo_root()) / "services"
    names = sorted(p.parent.parent.name for p in base.glob(f"*/{TIER3.as_posix()}") if p.is_file())
    for name in names:
        if not NAME.fullmatch(name):
            raise ConfigError(
                f"service folder name {name!r} is not usable in a workflow or session name",
                hint="use letters, digits, '_', '-' or '.' (services/<name>/ci/tier3.py)",
            )
    return names
