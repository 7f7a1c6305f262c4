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

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ci.backing import Backing
from ci.errors import ConfigError
from ci.stages import STAGES, Stage

if TYPE_CHECKING:
    from ci.tier3.context import RunContext

Hook = Callable[["RunContext"], None]


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


def var(name: str, *, required: bool = True, ssm: str | None = None, pattern: str | None = None,
        default: str | None = None, local_default: str | None = None,
        description: str = "") -> EnvVar:
    """A non-secret variable the service needs (printed in tables and rerun hints)."""
    return EnvVar(name, secret=False, required=required, ssm=ssm, pattern=pattern,
                  default=default, local_default=local_default, description=description)


def secret(name: str, *, required: bool = True, ssm: str | None = None,
           pattern: str | None = None, default: str | None = None,
           local_default: str | None = None, description: str = "") -> EnvVar:
    """A secret: masked everywhere, never printed, fetched from SSM when ``ssm`` is set."""
    return EnvVar(name, secret=True, required=required, ssm=ssm, pattern=pattern,
                  default=default, local_default=local_default, description=description)


@dataclass(frozen=True)
class Suite:
    """The pytest run: paths and args, coverage target, per-test timeout."""

    paths: Sequence[str] | str = ("tests/integration",)
    args: Sequence[str] = ()
    cov: Sequence[str] | str | None = None
    timeout: int | None = None
    """Per-test timeout in seconds (pytest-timeout). None: the project's own ``timeout``
    setting if it has one, else 300 s."""
    preload: Sequence[str] | None = None
    """Modules pytest imports while the backends are still starting, before any
    conftest. None: the declared backends' client libraries (psycopg, redis,
    nats); ``()`` turns it off. Name third-party libraries only: never the
    package under coverage (its import-time lines would go unmeasured), nor one
    that reads the backends' env vars when imported."""

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
    """Compose file, relative to the service folder; default ``<checkout>/compose/<name>.yml``."""
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

    def problems(self) -> list[str]:
        """Mistakes in the declaration itself, found without touching anything.

        Collected instead of raised from ``__init__``: the declaration runs at
        import time, outside any error handling, where a raise would be a
        traceback and exit 1 ("tests failed"). ``main()`` and Tier 2 report
        them with exit 2.
        """
        found: list[str] = []
        for b in self.backends:
            if not isinstance(b, Backing):
                found.append(f"backends= holds {b!r}, not a backend: declare it with "
                             "postgres(...), redis(...), nats(...), http(...) or tcp(...)")
            else:
                found += b.kind.problems(b)
        names = [b.name for b in self.backends if isinstance(b, Backing)]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            found.append(f"backend names repeat: {', '.join(dupes)}")
        wrong = [k for k, v in {**self.env, **self.export}.items()
                 if not isinstance(k, str) or not isinstance(v, str)]
        if wrong:
            found.append(f"env=/export= values must be strings: {', '.join(map(str, wrong))} "
                         "(quote them, e.g. \"10\")")
        for b in self.backends:
            port = b.port if isinstance(b, Backing) else None
            if port is not None and not (isinstance(port, int) and 0 < port < 65536):
                found.append(f"backend {b.name}: port={port!r} is not a TCP port (1-65535)")
        for v in self.requires:
            try:
                re.compile(v.pattern or "")
            except re.error as exc:
                found.append(f"env var {v.name}: pattern={v.pattern!r} is not a regular "
                             f"expression ({exc})")
        env_names = [v.name for v in self.requires]
        dupes = sorted({n for n in env_names if env_names.count(n) > 1})
        if dupes:
            found.append(f"env vars declared twice: {', '.join(dupes)}")
        for key in self.hooks:
            stage = key.partition("_")[2]
            if stage not in STAGES:
                found.append(f"hook {key!r}: no stage {stage!r} (stages: {', '.join(STAGES)})")
        if self.migrate_into and self.migrate_into not in names:
            found.append(f"migrate_into={self.migrate_into!r} is not a declared backend "
                         f"(backends: {', '.join(names) or 'none'})")
        return found

    def validate(self) -> None:
        found = self.problems()
        if found:
            raise ConfigError(
                f"service {self.name}: the declaration in {self._runner_label()} is not valid:"
                "\n    " + "\n    ".join(found),
                hint="fix tier3.py; nothing was started")

    def _runner_label(self) -> str:
        return relative(self.directory / "ci" / "tier3.py", Path.cwd())

    # -- derived -----------------------------------------------------------
    @property
    def directory(self) -> Path:
        assert self.root is not None
        return self.root

    @property
    def repo_root(self) -> Path:
        """The checkout the service belongs to: where artifacts and run state go.

        ``<checkout>/services/<name>`` for services of this repository; for a
        service declared elsewhere, the nearest folder holding ``.git`` or a
        ``noxfile.py``; else the service folder itself.
        """
        folder = self.directory
        if folder.parent.name == "services":
            return folder.parent.parent
        for parent in (folder, *folder.parents):
            if (parent / ".git").exists() or (parent / "noxfile.py").exists():
                return parent
        return folder

    @property
    def migrations_dir(self) -> Path | None:
        return self.directory / self.migrations if self.migrations else None

    @property
    def migration_target(self) -> Backing | None:
        targets = [b for b in self.backends if b.kind.takes_migrations]
        if self.migrate_into:
            for b in targets:
                if b.name == self.migrate_into:
                    return b
            raise ConfigError(f"service {self.name}: migrate_into={self.migrate_into!r} "
                              "is not a declared backend that takes migrations")
        return targets[0] if targets else None

    @property
    def compose_path(self) -> Path:
        """The compose file: ``compose_file`` relative to the service folder (or, for
        files written before that rule, the checkout); default ``compose/<name>.yml``
        in the checkout, else a ``compose.yml`` in the service folder."""
        if self.compose_file:
            own = self.directory / self.compose_file
            if own.exists() or not (self.repo_root / self.compose_file).exists():
                return own
            return self.repo_root / self.compose_file
        default = self.repo_root / "compose" / f"{self.name}.yml"
        if not default.exists():
            for name in ("compose.yml", "compose.yaml", "docker-compose.yml"):
                if (self.directory / name).exists():
                    return self.directory / name
        return default

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
    def before(self, stage: str | Stage) -> Callable[[Hook], Hook]:
        """Run the decorated function before ``stage`` (``up`` .. ``down``)."""
        return self._hook(f"before_{stage}", stage)

    def after(self, stage: str | Stage) -> Callable[[Hook], Hook]:
        """Run the decorated function after ``stage`` succeeds."""
        return self._hook(f"after_{stage}", stage)

    def _hook(self, key: str, stage: str | Stage) -> Callable[[Hook], Hook]:
        # An unknown stage is reported by validate(), with every other mistake.
        def register(fn: Hook) -> Hook:
            self.hooks.setdefault(key, []).append(fn)
            return fn

        return register

    # -- entry point -------------------------------------------------------
    def main(self, argv: Sequence[str] | None = None) -> None:
        """Run Tier 3 for this service: ``python services/<name>/ci/tier3.py``."""
        from ci.tier3.cli import exit_now, main

        exit_now(main(self, argv))


def relative(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when inside it, else absolute: for messages."""
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


__all__ = ["Backing", "EnvVar", "Service", "Suite", "secret", "var"]
