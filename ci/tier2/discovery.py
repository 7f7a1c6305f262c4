"""Find the services and load their declarations without importing their runtime deps.

A service is a folder ``services/<name>/`` holding ``ci/tier3.py``. Listing
sessions only reads folder names and the runner's docstring (``ast``, no code
runs), so ``nox -l`` works even when a runner is broken; the declaration is
loaded with :mod:`importlib` only when its session runs. A runner imports only
``ci``, whose import-time dependencies are the standard library, so loading it
needs none of psycopg, docker, redis or nats.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from ci.errors import ConfigError
from ci.service import Service

RUNNER = Path("ci") / "tier3.py"


@dataclass(frozen=True)
class Found:
    name: str
    runner: Path

    @property
    def summary(self) -> str:
        """The first line of the runner's docstring, read without running it."""
        try:
            doc = ast.get_docstring(ast.parse(self.runner.read_text(encoding="utf-8")))
        except (OSError, SyntaxError, ValueError):
            doc = None
        return (doc or "").strip().split("\n")[0].strip()


def discover(repo_root: Path) -> list[Found]:
    services = repo_root / "services"
    if not services.is_dir():
        return []
    return [Found(d.name, d / RUNNER) for d in sorted(services.iterdir())
            if d.is_dir() and (d / RUNNER).is_file()]


def load_service(found: Found) -> Service:
    """Execute the runner as a module (its ``__main__`` guard keeps Tier 3 from starting)."""
    module_name = f"tiers_runner_{found.name}"
    spec = importlib.util.spec_from_file_location(module_name, found.runner)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load {found.runner}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"{found.runner} failed to load: {type(exc).__name__}: {exc}",
                          hint="run it directly to see the traceback: "
                          f"python {found.runner} --help") from exc
    service = getattr(module, "service", None)
    if not isinstance(service, Service):
        raise ConfigError(f"{found.runner} defines no `service = Service(...)`")
    return service
