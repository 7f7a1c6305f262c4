"""Backends of a run left up with ``--keep``, re-used by a later ``--attach RUN_ID``.

This is how on-call reruns one stage (``--only test``) against the exact
servers a failing run used, without starting anything. It starts and stops
nothing: the kept run is torn down with ``--down RUN_ID``.
"""

from __future__ import annotations

from pathlib import Path

from ci import keep as kept
from ci.backends.base import Backend
from ci.backing import Backing
from ci.console import Console
from ci.endpoints import Endpoint
from ci.errors import ConfigError
from ci.runinfo import RunInfo
from ci.service import Service


class AttachedBackend(Backend):
    name = "attached"

    def __init__(self, service: Service, run: RunInfo, console: Console,
                 state: kept.KeptRun, origin: Backend | None = None) -> None:
        super().__init__(service, run, console)
        self.state = state
        self._endpoints = state.endpoints
        self.origin = origin
        """The kept run's own backend, holding whatever ``reattach`` opened."""

    @classmethod
    def load(cls, service: Service, run: RunInfo, console: Console,
             run_id: str) -> AttachedBackend:
        state = kept.load(service.repo_root, run_id)
        if state is None:
            known = ", ".join(s.run_id for s in kept.list_kept(service.repo_root)) or "none"
            raise ConfigError(f"no kept run {run_id!r} in this checkout (kept runs: {known})",
                              hint="start one with --keep")
        from ci.backends import backend_class

        origin = backend_class(state.backend)(service, run, console)
        origin.reattach(state)
        return cls(service, run, console, state, origin)

    def describe(self) -> str:
        return f"{self.state.backend} run {self.state.run_id} (attached)"

    def sweep(self) -> list[str]:
        return []

    def up(self) -> None:
        return None

    def endpoint(self, backing: Backing) -> Endpoint:
        try:
            return self._endpoints[backing.name]
        except KeyError:
            raise ConfigError(f"kept run has no backend {backing.name!r}") from None

    def check_alive(self, backing: Backing) -> None:
        return None

    def log_tail(self, backing: Backing, lines: int = 20) -> str:
        return ""

    def collect(self, logs_dir: Path, *, failed: bool) -> list[Path]:
        return []

    def down(self) -> None:
        return None

    def keep(self) -> str:
        return self.state.down
