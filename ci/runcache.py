"""A result cache for whole runs: an unchanged rerun of a passed suite need not run.

The key hashes everything that can change a run's outcome: the service's
folder, its migrations, its compose file and the ids of the images it names
(compose backend), the packages installed in the environment the suite runs in,
the framework's own ``ci/`` sources, the env name and the non-secret env vars
the service declares. Only a passed run is stored; a failed run under the same
key removes the entry, because the same inputs have now failed once.

Entries live in ``<checkout>/.tiers/cache/runs/<service>/<key>.json`` and keep
each input's digest, so a miss can say which input changed (:func:`why_not`).
Secret values are never part of the key or the entry; changing a secret does
not invalidate a cached pass (use ``--no-cache``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci.service import Service
from ci.tier3.migrations import digest as migrations_digest

CACHE_DIR = Path(".tiers") / "cache" / "runs"
ENV_NO_CACHE = "TIERS_NO_CACHE"
ENV_RESULT_CACHE = "TIERS_RESULT_CACHE"
"""``off`` turns this cache alone off (the framework's own tests do), not the others."""
NO_CACHE_FLAG = "--no-cache"
NO_CACHE_HELP = ("run for real even when a passed run with the same inputs is cached "
                 f"(also {ENV_NO_CACHE}=1)")
SKIP_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".nox",
                       ".venv", "venv", ".git", "htmlcov", "node_modules", ".tiers",
                       "artifacts"})
SKIP_SUFFIXES = (".pyc", ".pyo")
SKIP_NAMES = frozenset({".coverage", ".DS_Store"})
FRAMEWORK_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Hit:
    """A stored passed run whose inputs match this run's."""

    when: str
    """When the cached run ended (ISO 8601, UTC)."""
    hash: str
    exit_code: int
    run_dir: Path

    def describe(self) -> str:
        return f"cached: passed at {self.when} ({self.hash[:12]}), nothing changed"


def turned_off(environ: Mapping[str, str] | None = None) -> bool:
    """``TIERS_RESULT_CACHE=off``: this cache is neither read nor written."""
    env = os.environ if environ is None else environ
    return env.get(ENV_RESULT_CACHE, "").strip().lower() in ("0", "off", "false", "no")


def disabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``TIERS_NO_CACHE`` asks for a real run (Tier 3 also has ``--no-cache``)."""
    env = os.environ if environ is None else environ
    return env.get(ENV_NO_CACHE, "").strip().lower() in ("1", "true", "yes") or turned_off(env)


# -- inputs -------------------------------------------------------------------
def tree_digest(root: Path) -> str:
    """Hash of every file's relative path and content under ``root``, caches left out."""
    h = hashlib.sha256()
    for path in _files(root):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _files(root: Path) -> list[Path]:
    out: list[Path] = []
    if not root.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS
                             and not d.endswith(".egg-info"))
        for name in sorted(filenames):
            if name in SKIP_NAMES or name.endswith(SKIP_SUFFIXES):
                continue
            path = Path(dirpath) / name
            if path.is_file():
                out.append(path)
    return out


def _file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return "absent"


def site_packages(prefix: Path) -> list[Path]:
    return sorted(prefix.glob("lib/python*/site-packages")) + sorted(
        prefix.glob("Lib/site-packages"))


def packages_digest(prefix: Path | None = None) -> str:
    """Names and versions of the distributions installed under ``prefix`` (a venv).

    Read from the ``*.dist-info`` folder names (``name-version.dist-info``),
    which pip and uv both write; no import of the packages themselves.
    """
    prefix = Path(sys.prefix) if prefix is None else prefix
    names: list[str] = []
    for site in site_packages(prefix):
        names += [p.name for p in site.iterdir() if p.name.endswith(".dist-info")]
    cfg = prefix / "pyvenv.cfg"
    python = cfg.read_text(errors="replace") if cfg.exists() else sys.version
    version = next((line.split("=", 1)[1].strip() for line in python.splitlines()
                    if line.replace(" ", "").startswith(("version=", "version_info="))),
                   python.split()[0] if python else "")
    h = hashlib.sha256(f"python {version}\n".encode())
    for name in sorted(names):
        h.update(name.lower().encode() + b"\n")
    return h.hexdigest()


def compose_image_map(service: Service,
                      environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``compose service -> image`` from the service's compose file (empty without one).

    The nox process has no PyYAML; there the top-level ``services:`` block is
    read by indentation, which covers the image lines a compose file holds.
    """
    from ci.backends.compose.composefile import interpolate

    path = service.compose_path
    if not path.exists():
        return {}
    try:
        import yaml  # noqa: F401
    except ImportError:
        return {name: interpolate(image, environ)
                for name, image in _image_lines(path.read_text(encoding="utf-8")).items()}
    from ci.backends.compose.composefile import load

    return load(path).images(environ)


def _image_lines(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    in_services = False
    service_indent: int | None = None
    current = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            in_services = line.startswith("services:")
            service_indent = None
            continue
        if not in_services:
            continue
        if service_indent is None:
            service_indent = indent
        if indent == service_indent and line.strip().endswith(":"):
            current = line.strip()[:-1].strip("'\"")
        elif current and line.strip().startswith("image:"):
            out[current] = line.split(":", 1)[1].strip().strip("'\"")
    return out


def compose_images(service: Service, environ: Mapping[str, str] | None = None) -> list[str]:
    """The image references the service's compose file names."""
    return sorted(set(compose_image_map(service, environ).values()))


def image_ids(images: Iterable[str]) -> dict[str, str]:
    """``image -> id`` from the local Docker engine; ``absent`` when it has none."""
    refs = list(images)
    out = {ref: "absent" for ref in refs}
    if not refs:
        return out
    try:
        proc = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", *refs],
                              capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return {ref: "unknown" for ref in refs}
    ids = proc.stdout.split()
    if proc.returncode == 0 and len(ids) == len(refs):
        return dict(zip(refs, ids, strict=True))
    for ref in refs:  # one missing image fails the batch: ask one by one
        one = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", ref],
                             capture_output=True, text=True, timeout=15, check=False)
        out[ref] = one.stdout.strip() if one.returncode == 0 else "absent"
    return out


def declared_env(service: Service, environ: Mapping[str, str]) -> dict[str, str]:
    """The service's fixed env and the values of its non-secret declared variables."""
    values = dict(service.env)
    ci = environ.get("CI", "").lower() == "true"
    for var in service.requires:
        if var.secret:
            continue
        value = environ.get(var.name)
        if value is None:
            value = var.default if var.default is not None else (
                var.local_default if not ci else None)
        values[var.name] = "" if value is None else value
    return values


def inputs(service: Service, *, backend: str, env_name: str,
           environ: Mapping[str, str] | None = None,
           prefix: Path | None = None) -> dict[str, str]:
    """Each input's digest, by name: what the key hashes and what a miss explains."""
    env = os.environ if environ is None else environ
    found: dict[str, str] = {
        "backend": backend,
        "env_name": env_name,
        "service": tree_digest(service.directory),
        "migrations": (migrations_digest(service.migrations_dir)
                       if service.migrations_dir and service.migrations_dir.is_dir()
                       else "none"),
        "packages": packages_digest(prefix),
        "framework": tree_digest(FRAMEWORK_DIR),
        "env": hashlib.sha256(json.dumps(declared_env(service, env),
                                         sort_keys=True).encode()).hexdigest(),
    }
    if backend == "compose":
        found["compose_file"] = _file_digest(service.compose_path)
        ids = image_ids(compose_images(service, env))
        found["images"] = hashlib.sha256(json.dumps(ids, sort_keys=True).encode()).hexdigest()
    return found


def key(service: Service, *, backend: str, env_name: str,
        environ: Mapping[str, str] | None = None, prefix: Path | None = None) -> str:
    """The hash of everything that can change this service's run outcome."""
    return _hash(inputs(service, backend=backend, env_name=env_name, environ=environ,
                        prefix=prefix))


def _hash(found: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(dict(found), sort_keys=True).encode()).hexdigest()


# -- the store ------------------------------------------------------------------
def cache_dir(service: Service) -> Path:
    return service.repo_root / CACHE_DIR / service.name


def _entry_path(service: Service, digest: str) -> Path:
    return cache_dir(service) / f"{digest}.json"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _run_json(run_dir: Path) -> dict[str, Any] | None:
    return _read(run_dir / "run.json")


def lookup(service: Service, *, backend: str, env_name: str,
           environ: Mapping[str, str] | None = None, prefix: Path | None = None,
           no_cache: bool = False) -> Hit | None:
    """The cached passed run for these exact inputs, if its artifacts are still there."""
    if no_cache or disabled(environ):
        return None
    digest = key(service, backend=backend, env_name=env_name, environ=environ, prefix=prefix)
    entry = _read(_entry_path(service, digest))
    if entry is None or entry.get("exit_code") != 0:
        return None
    run_dir = Path(str(entry.get("run_dir", "")))
    if not run_dir.is_absolute():
        run_dir = service.repo_root / run_dir
    run = _run_json(run_dir)
    if run is None or run.get("exit_code") != 0:
        return None  # the old artifacts are gone: nothing to link, so not a hit
    return Hit(when=str(entry.get("when", "")), hash=digest, exit_code=0, run_dir=run_dir)


def store(service: Service, run_dir: Path, *, backend: str, env_name: str,
          environ: Mapping[str, str] | None = None, prefix: Path | None = None) -> Path | None:
    """Remember a passed run (its ``run.json`` says exit 0); returns the entry or None.

    A run that did not pass is never stored, and removes any entry under the
    same key: those inputs have just produced a failure.
    """
    found = inputs(service, backend=backend, env_name=env_name, environ=environ,
                   prefix=prefix)
    digest = _hash(found)
    path = _entry_path(service, digest)
    run = _run_json(run_dir)
    if run is None or run.get("exit_code") != 0 or run.get("backend", backend) != backend:
        path.unlink(missing_ok=True)
        return None
    try:
        rel: Path | str = run_dir.resolve().relative_to(service.repo_root)
    except ValueError:
        rel = run_dir.resolve()
    entry = {
        "service": service.name,
        "hash": digest,
        "exit_code": 0,
        "when": str(run.get("ended") or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")),
        "run_dir": str(rel),
        "inputs": found,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(entry, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def why_not(service: Service, *, backend: str, env_name: str,
            environ: Mapping[str, str] | None = None, prefix: Path | None = None) -> list[str]:
    """The inputs that differ from the newest cached pass on this backend and env."""
    entries = [e for e in (_read(p) for p in cache_dir(service).glob("*.json")) if e]
    entries = [e for e in entries if isinstance(e.get("inputs"), dict)
               and e["inputs"].get("backend") == backend
               and e["inputs"].get("env_name") == env_name]
    if not entries:
        return ["no passed run cached"]
    newest = max(entries, key=lambda e: str(e.get("when", "")))
    now = inputs(service, backend=backend, env_name=env_name, environ=environ, prefix=prefix)
    changed = sorted(k for k in set(now) | set(newest["inputs"])
                     if now.get(k) != newest["inputs"].get(k))
    return [f"{name} changed" for name in changed] or ["artifacts of the cached run are gone"]
