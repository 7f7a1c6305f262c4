"""The options of ``nox -s integration -- ...``, declared once in one table.

Anything not in the table is passed on to every service's
``nox -s integration-<svc> -- ...`` unchanged (``--backend``, ``--env``,
Tier 3's options), so the aggregate session never needs to know them.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ci.errors import ConfigError


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]
    help: str
    kwargs: dict[str, Any] = field(default_factory=dict)


OPTIONS: tuple[Option, ...] = (
    Option(("--list",), "list the services with their backends, images, migrations, suite, "
           "timeouts and whether a cached pass is still valid; run nothing",
           {"action": "store_true"}),
    Option(("--filter",), "select services by name or glob (repeatable; any match selects)",
           {"action": "append", "default": [], "metavar": "NAME|GLOB"}),
    Option(("--dry-run",), "print the plan (what would run, in which order, how many at once) "
           "and start nothing", {"action": "store_true"}),
    Option(("--json",), "with --list or --dry-run: print the plan as JSON "
           "(schema: docs/schemas/integration-plan.schema.json)", {"action": "store_true"}),
    Option(("--jobs", "-j"), "services run side by side (default: what this machine holds, "
           "from its cores and free memory)", {"type": int, "default": None, "metavar": "N"}),
    Option(("--fail-fast",), "after the first service that does not pass, stop the others "
           "(torn down, reported as cancelled)", {"action": "store_true"}),
    Option(("--timeout",), "seconds one service's whole session may take before it is "
           "stopped and reported as timed out (exit 3); default: no limit",
           {"type": float, "default": None, "metavar": "SECONDS"}),
)


@dataclass(frozen=True)
class Args:
    list_only: bool
    filters: list[str]
    dry_run: bool
    json: bool
    jobs: int | None
    fail_fast: bool
    timeout: float | None
    passthrough: list[str]
    """Arguments for every ``integration-<svc>`` session."""


class _Raising(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would exit 2 with its own text
        raise ConfigError(f"nox -s integration: {message}",
                          hint="see docs/multi-service.md for the options")


def parser() -> argparse.ArgumentParser:
    """The table as an argparse parser (also what the docs' option list is checked against)."""
    p = _Raising(prog="nox -s integration --", allow_abbrev=False, add_help=False)
    for opt in OPTIONS:
        p.add_argument(*opt.flags, help=opt.help, **opt.kwargs)
    return p


def parse(posargs: Sequence[str]) -> Args:
    """Split our options from the rest (everything after a bare ``--`` is passed on)."""
    argv = list(posargs)
    tail: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, tail = argv[:cut], argv[cut:]
    ns, rest = parser().parse_known_args(argv)
    if ns.jobs is not None and ns.jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, not {ns.jobs}")
    if ns.timeout is not None and ns.timeout <= 0:
        raise ConfigError(f"--timeout must be positive, not {ns.timeout}")
    if ns.json and not (ns.list or ns.dry_run):
        raise ConfigError("--json goes with --list or --dry-run",
                          hint="nox -s integration -- --dry-run --json")
    return Args(list_only=ns.list, filters=list(ns.filter), dry_run=ns.dry_run, json=ns.json,
                jobs=ns.jobs, fail_fast=ns.fail_fast, timeout=ns.timeout,
                passthrough=[*rest, *tail])
