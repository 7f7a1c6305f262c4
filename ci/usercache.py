"""The framework's per-user cache folder, and small answers remembered there.

Several things are slow to ask but rarely change: a server binary's
``--version``, the standalone compose CLI's version. They are remembered in a
JSON file per question under ``$XDG_CACHE_HOME/tiers`` (``~/.cache/tiers``),
keyed by the executable's fingerprint, so an upgrade in place asks again. The
folder also holds the local backend's PostgreSQL templates and the compose
cache's lock files. Nothing here is needed for correctness: a read-only home
only means asking again next time.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any


def directory() -> Path:
    """``$XDG_CACHE_HOME/tiers``, else ``~/.cache/tiers``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tiers"


def fingerprint(executable: str | Path) -> str | None:
    """The executable's path as invoked, with the size and mtime of the file it points at.

    The name stays as invoked, not resolved: a multi-call binary (Debian's
    ``redis-server`` is a link to ``redis-check-rdb``) answers by its name.
    None when the file cannot be read.
    """
    try:
        st = os.stat(executable)
    except OSError:
        return None
    return f"{executable}:{st.st_size}:{st.st_mtime_ns}"


def recall(store: str, key: str) -> Any | None:
    """What :func:`remember` kept under ``key`` in ``store`` (a file name), or None."""
    with contextlib.suppress(OSError, ValueError):
        known = json.loads((directory() / store).read_text(encoding="utf-8"))
        if isinstance(known, dict):
            return known.get(key)
    return None


def remember(store: str, key: str, value: Any) -> None:
    """Keep ``value`` under ``key`` in ``store``, replaced atomically (runs may race)."""
    path = directory() / store
    known: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        read = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(read, dict):
            known = read
    known[key] = value
    with contextlib.suppress(OSError):  # a read-only home: ask again next time
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known), encoding="utf-8")
        tmp.replace(path)
