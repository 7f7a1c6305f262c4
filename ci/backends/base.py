"""The contract between the Tier 3 engine and a way of running backing services.

The engine only ever calls these methods, in this order: ``sweep`` (clean what
dead runs left), ``up`` (start everything; may fail halfway), ``endpoint`` and
``check_alive``/``native_ready`` while waiting, ``collect`` (logs into the
artifacts), ``down`` (always, even after a half-finished ``up``). A backend
records what it started *as it starts it*, so ``down`` after a failed ``up``
removes exactly what exists.

This is the shape a Kubernetes backend fits unchanged: ``up`` creates a
namespace labelled with the run id and applies manifests, ``endpoint`` returns
a loopback port-forward, ``sweep`` deletes namespaces whose owner is gone.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ci.console import Console
from ci.endpoints import Endpoint
from ci.errors import ConfigError
from ci.runinfo import RunInfo
from ci.service import Backing, Service

if TYPE_CHECKING:
    from ci.keep import KeptRun


class Backend(abc.ABC):
    name: ClassVar[str]

    def __init__(self, service: Service, run: RunInfo, console: Console) -> None:
        self.service = service
        self.run = run
        self.console = console

    @abc.abstractmethod
    def sweep(self) -> list[str]:
        """Remove what earlier runs of this checkout left behind when their owner is gone.

        Returns one human-readable line per thing removed. Must never touch a
        run whose owner is alive, a run marked kept, or another checkout's run.
        """

    @abc.abstractmethod
    def up(self) -> None:
        """Start every backing service without waiting for readiness."""

    @abc.abstractmethod
    def endpoint(self, backing: Backing) -> Endpoint:
        """Where ``backing`` is reachable from this host (valid after ``up``)."""

    @abc.abstractmethod
    def check_alive(self, backing: Backing) -> None:
        """Raise :class:`ci.errors.BackendDied` (with a log tail) if it has exited."""

    def native_ready(self, backing: Backing) -> bool:
        """The platform's own readiness verdict (a Docker healthcheck), True if none."""
        return True

    @abc.abstractmethod
    def log_tail(self, backing: Backing, lines: int = 20) -> str:
        """The last lines of the server's log (unmasked: callers redact)."""

    @abc.abstractmethod
    def collect(self, logs_dir: Path, *, failed: bool) -> list[Path]:
        """Write per-backend logs (and, on failure, diagnostics) under ``logs_dir``."""

    @abc.abstractmethod
    def down(self) -> None:
        """Stop and remove everything this run started. Idempotent; never raises for 'gone'."""

    @abc.abstractmethod
    def keep(self) -> str:
        """Mark this run kept (sweeps skip it) and return how to tear it down by hand."""

    def reattach(self, state: KeptRun) -> None:
        """Make a kept run's endpoints reachable from this process (``--attach``).

        Nothing to do where the servers listen on their own (local processes,
        compose's published ports). A backend whose access lives only as long
        as the process that opened it (Kubernetes port-forwards) opens it
        again here, on the ports the kept run recorded.
        """
        return None

    def release(self, run_id: str) -> list[str]:
        """Tear down a run of this checkout left up with ``--keep`` (``--down RUN_ID``).

        Returns one line per thing removed. A backend that cannot find a kept
        run's resources again by itself says how to remove them by hand.
        """
        raise ConfigError(f"the {self.name} backend cannot tear down kept runs by itself",
                          hint="use the command printed when the run was kept")

    def preflight(self) -> None:
        """Check what can be checked before anything starts (binaries, files, pinned ports).

        Called before the sweep and ``up``; a ConfigError here means exit 2,
        "nothing was started". ``up`` must still work if this was not called.
        """
        return None

    def configure(self, options: Any) -> None:
        """Take this backend's own command-line options (an ``argparse.Namespace``)."""
        return None

    def plan(self) -> list[str]:
        """What ``up`` would create, one line (or one document) per item, starting nothing."""
        return [f"{b.name}: {b.kind_name}" for b in self.service.backends]

    def cached_migrations(self, backing: Backing) -> str | None:
        """The migrations digest ``backing`` was started with already applied, if any.

        A backend that starts a database from a cached, already-migrated image
        returns the digest it was built for; the migrate stage then skips
        applying when it equals the current one.
        """
        return None

    def migrated(self, backing: Backing, digest: str) -> None:
        """Called after migrations with ``digest`` were applied to ``backing`` (cache it)."""
        return None

    def describe(self) -> str:
        """One line for the 'backend chosen' message."""
        return self.name
