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
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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

    @property
    def v2(self) -> bool:
        return not self.version.startswith("1.")

    def describe(self) -> str:
        return f"{' '.join(self.argv0)} {self.version} (compose v{2 if self.v2 else 1})"

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
        version = _version(argv)
        if version:
            return ComposeCLI(argv0=tuple(argv), version=version)
    tried = " or ".join(" ".join(c) for c in candidates)
    raise InfraError(f"no docker compose CLI found (tried {tried})",
                     hint="install the compose v2 plugin, or Debian's `docker-compose`")
