"""Install a session's packages once, and skip pip entirely while nothing changed.

Even a no-op ``pip install`` costs seconds (it resolves and checks every
requirement). What decides what gets installed is hashed, all of it: the pip
arguments (the specs themselves), the framework's ``pyproject.toml``, every
requirement or constraint file named in the arguments (and the files those
include), the project files of every local path installed (``-e .``,
``--group path:name``, a service folder: ``pyproject.toml``, ``setup.cfg``,
``setup.py``, with their dependency groups), and the lock files found in
those folders and in ``watch`` folders (the service's). A stale stamp is
worse than a slow install: a package added to a service's dependency group
must reach the venv. The hash is stored inside the session's virtualenv: a
recreated venv has no stamp and installs again, an unchanged one skips pip.
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
PROJECT_FILES = ("pyproject.toml", "setup.cfg", "setup.py")
LOCK_FILES = ("uv.lock", "poetry.lock", "pdm.lock", "pylock.toml", "Pipfile.lock",
              "requirements.lock", "constraints.txt")


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


def project_dirs(args: Sequence[str], cwd: Path) -> list[Path]:
    """Local folders ``args`` install: ``-e DIR``, ``DIR[extra]``, ``--group DIR:name``."""
    found: list[Path] = []
    args = list(args)
    for i, arg in enumerate(args):
        candidate: str | None = None
        if arg in ("-e", "--editable") and i + 1 < len(args):
            candidate = args[i + 1]
        elif arg == "--group" and i + 1 < len(args):
            candidate = args[i + 1].rsplit(":", 1)[0] if ":" in args[i + 1] else "."
        elif arg.startswith("--group="):
            value = arg.split("=", 1)[1]
            candidate = value.rsplit(":", 1)[0] if ":" in value else "."
        elif not arg.startswith("-") and (arg.startswith((".", "/")) or "[" in arg):
            candidate = arg
        if candidate is None:
            continue
        path = (cwd / candidate.split("[", 1)[0]).resolve()
        if path.is_file() and path.name in PROJECT_FILES:
            path = path.parent
        if path.is_dir() and path not in found:
            found.append(path)
    return found


def install_inputs(args: Sequence[str], repo_root: Path, cwd: Path | None = None,
                   watch: Sequence[Path] = ()) -> list[Path]:
    """Every file whose content decides what ``pip install *args`` installs."""
    base = cwd or repo_root
    requirements = requirement_files(args, base)
    folders = [*project_dirs(args, base), *(p.resolve() for p in watch)]
    for req in requirements:  # `-e ../lib` or `./pkg[x]` inside a requirement file
        if req.is_file():
            for line in req.read_text(encoding="utf-8").splitlines():
                folders += project_dirs(line.split("#", 1)[0].split(), req.parent)
    files = [repo_root / "pyproject.toml", *requirements]
    for folder in dict.fromkeys(folders):
        files += [folder / name for name in (*PROJECT_FILES, *LOCK_FILES)]
    return list(dict.fromkeys(p.resolve() for p in files))


def install_key(args: Sequence[str], repo_root: Path, cwd: Path | None = None,
                watch: Sequence[Path] = ()) -> str:
    digest = hashlib.sha256(json.dumps(list(args)).encode())
    for path in install_inputs(args, repo_root, cwd, watch):
        digest.update(str(path).encode())
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
    return digest.hexdigest()


def ensure_installed(session: Any, args: Sequence[str], repo_root: Path,
                     cwd: Path | None = None, watch: Sequence[Path] = ()) -> InstallReport:
    """``session.install(*args)`` unless the venv's stamp says these inputs are installed.

    ``watch``: further folders whose project and lock files count (the service's).
    """
    started = time.monotonic()
    key = install_key(args, repo_root, cwd, watch)
    location = getattr(session.virtualenv, "location", None)
    stamp = Path(location) / STAMP if location else None
    if stamp is not None and stamp.is_file() and stamp.read_text().strip() == key:
        return InstallReport(time.monotonic() - started, True, key)
    session.install(*args)
    if stamp is not None:
        stamp.write_text(key + "\n")
    return InstallReport(time.monotonic() - started, False, key)
