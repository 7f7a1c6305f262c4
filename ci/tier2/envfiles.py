"""The .env layers, read strictly (:mod:`ci.tier2.dotenv_parse`), never written into ``os.environ``.

Precedence, highest first (an empty value counts as unset at every layer, so
an empty ``OPENAI_API_KEY=`` from a workflow does not block the fetch):

1. the process environment
2. ``.env.local`` (personal; git-ignored)
3. ``.env.<environment>`` (``.env.ci``, ``.env.local``'s sibling for a named env)
4. ``.env`` (shared defaults, committed)

Each layer is looked for in the repository root and in the service folder;
within a layer the service's file beats the root's, because it is the more
specific. Values are only collected here: Tier 2 hands them to Tier 3 through
the subprocess environment after validation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ci.errors import ConfigError
from ci.tier2.dotenv_parse import parse

PROCESS_ENV = "process env"
_ENV_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def layer_files(repo_root: Path, service_dir: Path | None, environment: str) -> list[Path]:
    """Candidate files, lowest precedence first (missing ones included)."""
    names = [".env", f".env.{environment}", ".env.local"]
    dirs = [repo_root] + ([service_dir] if service_dir and service_dir != repo_root else [])
    files: list[Path] = []
    for name in dict.fromkeys(names):  # environment "local" would repeat .env.local
        files += [d / name for d in dirs]
    return files


@dataclass
class Layered:
    """Values from the .env files that apply, with where each came from."""

    values: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    loaded: list[Path] = field(default_factory=list)
    shadowed: dict[str, str] = field(default_factory=dict)
    """Keys a file sets that the process environment overrides, with that file."""


def check_environment_name(name: str) -> str:
    if not _ENV_NAME.fullmatch(name):
        raise ConfigError(f"environment name {name!r} is not a plain name",
                          hint="use letters, digits, '.', '_' or '-', e.g. --env ci")
    return name


BUILT_IN = ("ci", "local")
"""Environments that need no file: the defaults with and without CI=true."""


def known_environments(repo_root: Path, service_dir: Path | None) -> list[str]:
    """``ci``, ``local`` and every ``<name>`` of a ``.env.<name>`` file in the root or service."""
    names = set(BUILT_IN)
    for folder in (repo_root, service_dir):
        if folder is not None and folder.is_dir():
            names |= {p.name[len(".env."):] for p in folder.glob(".env.*") if p.is_file()}
    return sorted(n for n in names if _ENV_NAME.fullmatch(n))


def check_environment_exists(name: str, repo_root: Path, service_dir: Path | None) -> None:
    """A name with no ``.env.<name>`` file anywhere is a typo, not an empty environment."""
    known = known_environments(repo_root, service_dir)
    if name not in known:
        import difflib

        close = difflib.get_close_matches(name, known, n=1)
        raise ConfigError(
            f"environment {name!r} does not exist (from --env or TIERS_ENV); environments: "
            f"{', '.join(known)}" + (f"; did you mean {close[0]!r}?" if close else ""),
            hint=f"fix the name, or create .env.{name} in the repository root or the "
            "service folder",
        )


def load_layers(
    repo_root: Path,
    service_dir: Path | None,
    environment: str,
    environ: Mapping[str, str],
) -> Layered:
    """Read every applicable .env file; keys set (non-empty) in ``environ`` stay untouched."""
    check_environment_name(environment)
    check_environment_exists(environment, repo_root, service_dir)
    result = Layered()
    for path in layer_files(repo_root, service_dir, environment):
        if not path.is_file():
            continue
        result.loaded.append(path)
        where = label(path, repo_root)
        for key, value in parse(path, environ, where).items():
            if value == "":
                continue
            if environ.get(key):
                result.shadowed[key] = where
                continue
            result.values[key] = value
            result.sources[key] = where
    return result


def label(path: Path, repo_root: Path) -> str:
    try:
        return str(path.relative_to(repo_root))
    except ValueError:
        return str(path)
