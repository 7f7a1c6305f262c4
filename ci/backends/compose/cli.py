"""Which compose CLI this machine has, and the argv for each thing we ask of it.

GitHub's runners have the v2 plugin (``docker compose``); Debian and many
self-hosted runners still have v1 (``docker-compose`` 1.29). Both are driven
through the same few subcommands, and nothing here depends on how either names
containers (v1 ``<project>_<svc>_1``, v2 ``<project>-<svc>-1``): containers are
found by the labels both put on them. ``TIERS_COMPOSE`` forces a choice
(``docker compose`` or ``docker-compose``).
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ci import usercache
from ci.errors import InfraError

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
STOP_TIMEOUT = 10
"""Seconds ``down`` gives a container between its stop signal and SIGKILL."""


@dataclass(frozen=True)
class ComposeCLI:
    argv0: tuple[str, ...]
    version: str
    cached: bool = False
    """The version came from the cache (the executable is unchanged since it was asked)."""

    @property
    def v2(self) -> bool:
        return not self.version.startswith("1.")

    def describe(self) -> str:
        how = "; version cached" if self.cached else ""
        return f"{' '.join(self.argv0)} {self.version} (compose v{2 if self.v2 else 1}{how})"

    def base(self, project: str, files: Sequence[Path]) -> list[str]:
        argv = [*self.argv0, "--project-name", project]
        for f in files:
            argv += ["--file", str(f)]
        return argv

    def up(self, project: str, files: Sequence[Path]) -> list[str]:
        # Detached, no --wait (v1 has none, and --wait fails on one-shot init
        # containers, compose#10596): readiness is ours to judge.
        return [*self.base(project, files), "up", "--detach", "--remove-orphans"]

    def down(self, project: str, files: Sequence[Path]) -> list[str]:
        return [*self.base(project, files), "down", "--volumes", "--remove-orphans",
                "--timeout", str(STOP_TIMEOUT)]

    def ps(self, project: str, files: Sequence[Path]) -> list[str]:
        # v2 lists only running containers unless told -a; v1 always lists all.
        return [*self.base(project, files), "ps", *(["--all"] if self.v2 else [])]

    def manual_down(self, project: str, compose_file: Path) -> str:
        """The command a person runs to remove a kept run."""
        return shlex.join(self.down(project, [compose_file]))


VERSION_STORE = "compose-cli.json"


def _fingerprint(argv: Sequence[str]) -> str | None:
    """The standalone compose executable's fingerprint; None for the plugin.

    ``docker-compose`` v1 is a Python program: asking its version costs a
    second or more of interpreter start-up on every run. The v2 plugin answers
    in milliseconds, so only the standalone binary's answer is cached.
    """
    if len(argv) != 1:
        return None
    found = shutil.which(argv[0])
    return None if found is None else usercache.fingerprint(found)


def _cached_version(argv: Sequence[str]) -> tuple[str | None, bool]:
    """(version, came from the cache); the cache is keyed by the executable's fingerprint."""
    key = _fingerprint(argv)
    if key is not None:
        known = usercache.recall(VERSION_STORE, key)
        if isinstance(known, str):
            return known, True
    version = _version(argv)
    if version and key is not None:
        usercache.remember(VERSION_STORE, key, version)
    return version, False


def _version(argv: Sequence[str]) -> str | None:
    try:
        proc = subprocess.run([*argv, "version", "--short"], capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = proc.stdout.strip()
    if proc.returncode != 0 or not out:
        return None
    return out.splitlines()[0].lstrip("v")


CANDIDATES: tuple[tuple[str, ...], ...] = (("docker", "compose"), ("docker-compose",))


@functools.cache
def detect(forced: str | None = None) -> ComposeCLI:
    """The first compose CLI that answers: the v2 plugin, else standalone ``docker-compose``."""
    forced = forced if forced is not None else os.environ.get("TIERS_COMPOSE") or None
    candidates = [tuple(shlex.split(forced))] if forced else list(CANDIDATES)
    for argv in candidates:
        version, cached = _cached_version(argv)
        if version:
            return ComposeCLI(argv0=tuple(argv), version=version, cached=cached)
    tried = " or ".join(" ".join(c) for c in candidates)
    raise InfraError(f"no docker compose CLI found (tried {tried})",
                     hint="install the compose v2 plugin, or Debian's `docker-compose`")
