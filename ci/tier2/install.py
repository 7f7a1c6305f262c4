"""Install a session's packages once, and skip pip entirely while nothing changed.

Even a no-op ``pip install`` costs seconds (it resolves and checks every
requirement). The inputs that decide what gets installed are few: the pip
arguments, ``pyproject.toml``, and the requirement files named in the
arguments (and the files those include). Their hash is stored inside the
session's virtualenv: a recreated venv has no stamp and installs again, an
unchanged one skips the call.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STAMP = ".tiers-install.sha256"
_INCLUDE = re.compile(r"^\s*(?:-r|-c|--requirement|--constraint)[\s=]+(\S+)")


@dataclass
class InstallReport:
    seconds: float
    skipped: bool
    key: str


def requirement_files(args: Sequence[str], cwd: Path) -> list[Path]:
    """Files named by ``-r``/``-c`` in ``args``, and, recursively, inside them."""
    found: list[Path] = []
    pending: list[Path] = []
    args = list(args)
    for i, arg in enumerate(args):
        if arg in ("-r", "-c", "--requirement", "--constraint") and i + 1 < len(args):
            pending.append(cwd / args[i + 1])
        elif arg.startswith(("--requirement=", "--constraint=")):
            pending.append(cwd / arg.split("=", 1)[1])
    while pending:
        path = pending.pop(0).resolve()
        if path in found:
            continue
        found.append(path)
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                m = _INCLUDE.match(line)
                if m:
                    pending.append(path.parent / m.group(1))
    return found


def install_key(args: Sequence[str], repo_root: Path, cwd: Path | None = None) -> str:
    digest = hashlib.sha256(json.dumps(list(args)).encode())
    files = [repo_root / "pyproject.toml", *requirement_files(args, cwd or repo_root)]
    for path in files:
        digest.update(str(path).encode())
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
    return digest.hexdigest()


def ensure_installed(session: Any, args: Sequence[str], repo_root: Path,
                     cwd: Path | None = None) -> InstallReport:
    """``session.install(*args)`` unless the venv's stamp says these inputs are installed."""
    started = time.monotonic()
    key = install_key(args, repo_root, cwd)
    location = getattr(session.virtualenv, "location", None)
    stamp = Path(location) / STAMP if location else None
    if stamp is not None and stamp.is_file() and stamp.read_text().strip() == key:
        return InstallReport(time.monotonic() - started, True, key)
    session.install(*args)
    if stamp is not None:
        stamp.write_text(key + "\n")
    return InstallReport(time.monotonic() - started, False, key)
