"""The declarations a backend developer writes in ``services/<name>/ci/tier3.py``.

A service says *what* it needs (backing services, migrations, a suite, env),
never *how* to start it: the same declaration runs on local processes, on
docker compose, or on a cluster. Plain-Python hooks cover the odd extra step.

    service = Service(
        backends=[postgres("postgres"), redis("dragonfly"), nats("nats")],
        migrations="migrations",
        suite=Suite("tests/integration", cov="agent_executor"),
        env={"TESTING": "true"},
        requires=[secret("OPENAI_API_KEY", ssm="/prod/openai_api_key")],
    )
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ci.endpoints import Endpoint
from ci.errors import ConfigError

if TYPE_CHECKING:
    from ci.tier3.context import RunContext

Kind = Literal["postgres", "redis", "nats", "http", "tcp"]
STAGES = ("up", "wait", "migrate", "test", "collect", "down")
DEFAULT_PORTS: dict[str, int] = {"postgres": 5432, "redis": 6379, "nats": 4222, "http": 80}

Hook = Callable[["RunContext"], None]


@dataclass(frozen=True)
class Backing:
    """One backing service the suite talks to."""

    name: str
    kind: Kind
    port: int | None = None
    """Pin the host port (for suites that hard-code ``localhost:4222``); free port if None."""
    min_version: str | None = None
    """Lowest acceptable server version; the local backend picks a binary that satisfies it."""
    timeout: float = 30.0
    """Seconds the wait stage gives this backend to pass its probe."""
    user: str | None = None
    password: str | None = None
    database: str | None = None
    jetstream: bool = True
    path: str = "/"
    """HTTP probe path."""
    expect_status: int = 200
    command: tuple[str, ...] = ()
    """For http/tcp backends run as local processes; ``{port}`` is replaced."""
    compose_service: str | None = None
    """Service name in the compose file, if it differs from ``name``."""
    container_port: int | None = None

    @property
    def default_port(self) -> int:
        return self.container_port or DEFAULT_PORTS.get(self.kind, 0)

    @property
    def compose_name(self) -> str:
        return self.compose_service or self.name

    @property
    def kind_name(self) -> str:
        """The kind as a plain string (``"postgres"``), for labels and messages."""
        return str(self.kind)

    def endpoint(self, host: str, port: int) -> Endpoint:
        """This backing service reachable at ``host:port``, with its credentials."""
        return Endpoint(self.name, self.kind_name, host, port, user=self.user,
                        password=self.password, database=self.database, path=self.path)


def postgres(
    name: str = "postgres",
    *,
    database: str = "test",
    user: str = "test",
    password: str = "test",
    port: int | None = None,
    min_version: str | None = None,
    timeout: float = 30.0,
    compose_service: str | None = None,
) -> Backing:
    """A PostgreSQL server; its user is a superuser, its cluster UTF-8."""
    return Backing(name, "postgres", port=port, min_version=min_version, timeout=timeout,
                   user=user, password=password, database=database,
                   compose_service=compose_service)


def redis(
    name: str = "redis",
    *,
    port: int | None = None,
    min_version: str | None = None,
    timeout: float = 30.0,
    compose_service: str | None = None,
) -> Backing:
    """A Redis-protocol server (Redis, Dragonfly, Valkey)."""
    return Backing(name, "redis", port=port, min_version=min_version, timeout=timeout,
                   compose_service=compose_service)


def nats(
    name: str = "nats",
    *,
    jetstream: bool = True,
    port: int | None = None,
    min_version: str | None = None,
    timeout: float = 30.0,
    compose_service: str | None = None,
) -> Backing:
    """A NATS server, with JetStream unless told otherwise."""
    return Backing(name, "nats", port=port, min_version=min_version, timeout=timeout,
                   jetstream=jetstream, compose_service=compose_service)


def http(
    name: str,
    *,
    command: Sequence[str] = (),
    path: str = "/",
    expect_status: int = 200,
    port: int | None = None,
    container_port: int | None = None,
    timeout: float = 30.0,
    compose_service: str | None = None,
) -> Backing:
    """An HTTP service, probed with a GET of ``path``."""
    return Backing(name, "http", port=port, timeout=timeout, path=path,
                   expect_status=expect_status, command=tuple(command),
                   container_port=container_port, compose_service=compose_service)


def tcp(
    name: str,
    *,
    command: Sequence[str] = (),
    port: int | None = None,
    container_port: int | None = None,
    timeout: float = 30.0,
    compose_service: str | None = None,
) -> Backing:
    """Anything else: probed by a TCP connect, the weakest check, so the last resort."""
    return Backing(name, "tcp", port=port, timeout=timeout, command=tuple(command),
                   container_port=container_port, compose_service=compose_service)


@dataclass(frozen=True)
class EnvVar:
    """An environment variable the service needs, declared once for Tier 2 and Tier 3."""

    name: str
    secret: bool = False
    required: bool = True
    ssm: str | None = None
    """SSM Parameter Store name this variable is fetched from when unset."""
    pattern: str | None = None
    """Regular expression a value must fully match."""
    default: str | None = None
    local_default: str | None = None
    """Used only when ``CI`` is not ``true`` and the variable is unset (said on one line)."""
    description: str = ""


def var(name: str, **kwargs: object) -> EnvVar:
    return EnvVar(name, **kwargs)  # type: ignore[arg-type]


def secret(name: str, **kwargs: object) -> EnvVar:
    return EnvVar(name, secret=True, **kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Suite:
    """The pytest run: paths and args, coverage target, per-test timeout."""

    paths: Sequence[str] | str = ("tests/integration",)
    args: Sequence[str] = ()
    cov: Sequence[str] | str | None = None
    timeout: int = 300
    """Per-test timeout in seconds (pytest-timeout)."""

    @property
    def path_list(self) -> list[str]:
        return [self.paths] if isinstance(self.paths, str) else list(self.paths)

    @property
    def cov_list(self) -> list[str]:
        if self.cov is None:
            return []
        return [self.cov] if isinstance(self.cov, str) else list(self.cov)


@dataclass
class Service:
    backends: Sequence[Backing] = ()
    migrations: str | None = "migrations"
    suite: Suite = field(default_factory=Suite)
    env: dict[str, str] = field(default_factory=dict)
    requires: Sequence[EnvVar] = ()
    export: dict[str, str] = field(default_factory=dict)
    """Extra env names for the suite: ``{"CACHE_ADDR": "{dragonfly.host}:{dragonfly.port}"}``."""
    ssm_path: str | None = None
    """SSM path prefix whose parameters become env vars (basename upper-cased)."""
    compose_file: str | None = None
    """Compose file, relative to the repository root; default ``compose/<name>.yml``."""
    default_backend: str | None = None
    requirements: Sequence[str] = ()
    """pip requirement files (relative to the service) or specs; default requirements.txt."""
    migrate_into: str | None = None
    """Which postgres backend migrations go to; the first one by default."""
    name: str = ""
    root: Path | None = None
    hooks: dict[str, list[Hook]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.root is None:
            frame = sys._getframe(1)
            # Skip our own frames (and the dataclass-generated __init__) to find
            # the tier3.py that declared the service.
            while frame.f_back is not None and frame.f_globals.get("__name__") == __name__:
                frame = frame.f_back
            caller = frame.f_globals.get("__file__")
            if caller is None:
                raise ConfigError("Service() needs root= when not declared in a file")
            path = Path(caller).resolve()
            # services/<name>/ci/tier3.py -> services/<name>
            self.root = path.parent.parent if path.parent.name == "ci" else path.parent
        self.root = Path(self.root).resolve()
        if not self.name:
            self.name = self.root.name
        self._validate()

    def _validate(self) -> None:
        names = [b.name for b in self.backends]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ConfigError(f"service {self.name}: backend names repeat: {sorted(dupes)}")
        env_names = [v.name for v in self.requires]
        dupes = {n for n in env_names if env_names.count(n) > 1}
        if dupes:
            raise ConfigError(f"service {self.name}: env vars declared twice: {sorted(dupes)}")

    # -- derived -----------------------------------------------------------
    @property
    def directory(self) -> Path:
        assert self.root is not None
        return self.root

    @property
    def repo_root(self) -> Path:
        """The checkout: the folder holding ``services/``."""
        return self.directory.parent.parent

    @property
    def migrations_dir(self) -> Path | None:
        return self.directory / self.migrations if self.migrations else None

    @property
    def migration_target(self) -> Backing | None:
        pgs = [b for b in self.backends if b.kind == "postgres"]
        if self.migrate_into:
            for b in pgs:
                if b.name == self.migrate_into:
                    return b
            raise ConfigError(f"service {self.name}: migrate_into={self.migrate_into!r} "
                              "is not a declared postgres backend")
        return pgs[0] if pgs else None

    @property
    def compose_path(self) -> Path:
        rel = self.compose_file or f"compose/{self.name}.yml"
        return self.repo_root / rel

    @property
    def requirement_args(self) -> list[str]:
        """pip arguments installing what this service's suite imports."""
        reqs = list(self.requirements)
        if not reqs and (self.directory / "requirements.txt").exists():
            reqs = ["requirements.txt"]
        args: list[str] = []
        for req in reqs:
            if (self.directory / req).is_file():
                args += ["-r", str(self.directory / req)]
            else:
                args.append(req)
        return args

    def backing(self, name: str) -> Backing:
        for b in self.backends:
            if b.name == name:
                return b
        raise KeyError(name)

    # -- hooks -------------------------------------------------------------
    def before(self, stage: str) -> Callable[[Hook], Hook]:
        """Run the decorated function before ``stage`` (``up`` .. ``down``)."""
        return self._hook(f"before_{stage}", stage)

    def after(self, stage: str) -> Callable[[Hook], Hook]:
        """Run the decorated function after ``stage`` succeeds."""
        return self._hook(f"after_{stage}", stage)

    def _hook(self, key: str, stage: str) -> Callable[[Hook], Hook]:
        if stage not in STAGES:
            raise ConfigError(f"service {self.name}: no stage {stage!r}; stages: {STAGES}")

        def register(fn: Hook) -> Hook:
            self.hooks.setdefault(key, []).append(fn)
            return fn

        return register

    # -- entry point -------------------------------------------------------
    def main(self, argv: Sequence[str] | None = None) -> None:
        """Run Tier 3 for this service: ``python services/<name>/ci/tier3.py``."""
        from ci.tier3.cli import main

        raise SystemExit(main(self, argv))
