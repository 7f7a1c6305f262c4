"""The nox sessions, registered from discovery so ``noxfile.py`` stays a few lines.

``integration-<service>`` is the whole of Tier 2: resolve and validate the
environment (exit 2 before anything is installed), install what changed,
print the Tier 3 command, run it with secrets in its environment only, and
exit with Tier 3's code. Every session body here runs inside the nox process,
which has only nox, python-dotenv and boto3 (the noxfile's PEP 723 block), so
nothing heavier may be imported at module level.
"""

from __future__ import annotations

import importlib
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import nox

from ci.console import Console
from ci.errors import ConfigError, InfraError, TiersError
from ci.exit_codes import DESCRIPTIONS, ExitCode
from ci.tier2.discovery import Found, discover, load_service
from ci.tier2.envfiles import check_environment_name
from ci.tier2.handoff import child_env, rerun_hint, run_child, tier3_command
from ci.tier2.install import ensure_installed
from ci.tier2.prepare import environment_name, prepare, report
from ci.tier2.secrets import redact_logging
from ci.tier2.ssm import quiet_sdk_logging

FRAMEWORK_EXTRA = ".[local]"
DELEGATED: dict[str, tuple[str, str]] = {
    "images": ("ci.backends.compose.images:session_images",
               "Build the local stand-in images the compose backend needs (no registry)."),
    "workflows": ("ci.tier1.generate:session_workflows",
                  "Write .github/workflows from the services (--check: fail when stale)."),
    "matrix": ("ci.tier1.generate:session_matrix",
               "Print the all-services matrix JSON (and write it to $GITHUB_OUTPUT)."),
    "tier1": ("ci.tier1.act:session_act",
              "Run a service's GitHub workflow locally with act (Tier 1 end to end)."),
    "kube-e2e": ("ci.backends.kubernetes.e2e:session_kube_e2e",
                 "Kubernetes backend on a real kind/k3d cluster: -- --context NAME "
                 "(user-run)."),
}


def split_posargs(posargs: Sequence[str]) -> tuple[str | None, list[str]]:
    """Take ``--env NAME`` / ``--env=NAME`` (before any ``--``); the rest is Tier 3's."""
    env: str | None = None
    rest: list[str] = []
    args = list(posargs)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        if arg == "--env":
            if i + 1 >= len(args):
                raise ConfigError("--env needs a name", hint="e.g. nox -s integration-x -- "
                                  "--env ci")
            env = args[i + 1]
            i += 2
            continue
        if arg.startswith("--env="):
            env = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    return env, rest


def integration(session: Any, found: Found, repo_root: Path,
                console: Console | None = None) -> int:
    """Tier 2 for one service; returns Tier 3's exit code (raises TiersError before it)."""
    started = time.monotonic()
    console = console or Console(prefix="tier2")
    redact_logging()
    quiet_sdk_logging()
    env_arg, tier3_args = split_posargs(session.posargs)
    service = load_service(found)
    environment = check_environment_name(environment_name(env_arg, os.environ))
    console.info(f"{service.name}: Tier 3 command: "
                 f"{shlex.join(tier3_command(service, tier3_args))}")

    prepared = prepare(service, environment=environment, console=console)
    report(prepared, console)
    prepared.raise_if_invalid()

    args = ["-e", FRAMEWORK_EXTRA, *service.requirement_args]
    try:
        installed = ensure_installed(session, args, repo_root)
    except nox.command.CommandFailed as exc:
        raise InfraError(f"installing {service.name}'s requirements failed: {exc}",
                         hint="see pip's output above") from None
    venv = str(session.virtualenv.location)
    how = ("skipped, nothing changed" if installed.skipped
           else f"{installed.seconds:.2f}s")
    for line in rerun_hint(service, tier3_args, environment, prepared.secrets_to_export(),
                           _relative(venv, repo_root)):
        console.info(line)
    from ci.tier2 import LOADED_AT

    now = time.monotonic()
    console.info(f"Tier 2: {now - LOADED_AT:.2f}s before Tier 3 ({now - started:.2f}s in this "
                 f"session; install: {how})")
    env = child_env(os.environ, prepared.env, environment=environment,
                    secret_names=prepared.secret_names, venv=venv)
    python = str(Path(venv) / "bin" / "python")
    return run_child(tier3_command(service, tier3_args, python=python), env, cwd=repo_root)


def _relative(path: str, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return path


def finish(code: int, console: Console, what: str) -> None:
    """End the session with ``code``: nox itself would turn every failure into 1."""
    if code == 0:
        return
    try:
        meaning = DESCRIPTIONS[ExitCode(code)]
    except ValueError:
        meaning = "unexpected exit code"
    console.error(f"{what}: exit {code} ({meaning})")
    raise SystemExit(code)


def _integration_session(found: Found, repo_root: Path) -> Callable[[Any], None]:
    def body(session: Any) -> None:
        console = Console(prefix="tier2")
        try:
            code = integration(session, found, repo_root, console)
        except TiersError as exc:
            console.error(exc.render())
            code = int(exc.code)
        finish(code, console, f"integration-{found.name}")

    body.__doc__ = (f"Integration suite of {found.name} through Tier 3 "
                    "(-- [--env NAME] [tier3 args]).")
    body.__name__ = f"integration_{found.name}"
    return body


def _all_session(names: list[str], noxfile: Path) -> Callable[[Any], None]:
    def body(session: Any) -> None:
        console = Console(prefix="tier2")
        codes: dict[str, int] = {}
        for name in names:
            cmd = [sys.executable, "-m", "nox", "-f", str(noxfile), "-s",
                   f"integration-{name}", "--", *session.posargs]
            codes[name] = subprocess.run(cmd, check=False).returncode
        for name, code in codes.items():
            console.info(f"integration-{name}: exit {code}")
        finish(max(codes.values(), default=0), console, "integration")

    body.__doc__ = "Every service's integration suite, one nox run each; exits with the worst code."
    return body


def _tests(repo_root: Path) -> Callable[[Any], None]:
    def body(session: Any) -> None:
        ensure_installed(session, ["-e", ".[local,dev]"], repo_root)
        session.run("pytest", *session.posargs)  # exit 5 (no tests ran) fails too

    body.__doc__ = "The framework's own test suite (pytest; args after -- go to pytest)."
    return body


def _lint(repo_root: Path) -> Callable[[Any], None]:
    def body(session: Any) -> None:
        ensure_installed(session, ["-e", ".[dev]"], repo_root)
        session.run("ruff", "check", ".")
        session.run("mypy")

    body.__doc__ = "ruff and mypy (strict) over the framework."
    return body


def _delegate(target: str, doc: str) -> Callable[[Any], None]:
    def body(session: Any) -> None:
        module_name, func_name = target.split(":")
        try:
            func = getattr(importlib.import_module(module_name), func_name)
        except (ImportError, AttributeError) as exc:
            session.error(f"{target} is not available: {exc}")
        func(session)

    body.__doc__ = doc
    return body


def register(repo_root: Path) -> list[str]:
    """Register every session; returns their names (for tests)."""
    nox.options.reuse_venv = "yes"
    nox.options.default_venv_backend = "uv|virtualenv"
    noxfile = repo_root / "noxfile.py"
    found = discover(repo_root)
    names: list[str] = []

    def add(name: str, func: Callable[[Any], None], **kwargs: Any) -> None:
        nox.session(name=name, **kwargs)(func)
        names.append(name)

    for svc in found:
        add(f"integration-{svc.name}", _integration_session(svc, repo_root), default=False)
    add("integration", _all_session([s.name for s in found], noxfile), venv_backend="none",
        default=False)
    add("tests", _tests(repo_root))
    add("lint", _lint(repo_root))
    for name, (target, doc) in DELEGATED.items():
        add(name, _delegate(target, doc), default=False)
    return names
