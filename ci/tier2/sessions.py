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
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import nox

from ci.console import Console
from ci.errors import ConfigError, InfraError, TiersError
from ci.tier2 import github_report
from ci.tier2.discovery import Found, discover, load_service
from ci.tier2.envfiles import check_environment_name
from ci.tier2.github_report import RESULT_FILE_VAR, Ending, read_result_file
from ci.tier2.handoff import child_env, rerun_hint, run_child, tier3_command
from ci.tier2.install import ensure_installed
from ci.tier2.outcome import fail, install_exit_hook
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
                console: Console | None = None) -> tuple[int, Path | None]:
    """Tier 2 for one service; returns Tier 3's exit code and the run folder it reported.

    Raises TiersError when it stops before Tier 3.
    """
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
        installed = ensure_installed(session, args, repo_root, watch=[service.directory])
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
    with tempfile.TemporaryDirectory(prefix="tiers-result-") as tmp:
        result_file = Path(tmp) / "run-folder"
        env[RESULT_FILE_VAR] = str(result_file)
        code = run_child(tier3_command(service, tier3_args, python=python), env, cwd=repo_root)
        return code, read_result_file(result_file)


def _relative(path: str, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return path


def _integration_session(found: Found, repo_root: Path) -> Callable[[Any], None]:
    def body(session: Any) -> None:
        console = Console(prefix="tier2")
        try:
            code, folder = integration(session, found, repo_root, console)
            ending = Ending(found.name, code, folder)
        except TiersError as exc:
            console.error(exc.render())
            code = int(exc.code)
            ending = Ending(found.name, code, error=exc.message)
        github_report.report(ending, repo_root)
        fail(session, code, f"integration-{found.name}", console)

    body.__doc__ = (f"Integration suite of {found.name} through Tier 3 "
                    "(-- [--env NAME] [tier3 args]).")
    body.__name__ = f"integration_{found.name}"
    return body


INTEGRATION_TAG = "integration"
"""Every ``integration-<service>`` session carries it (and its service's name):
``nox -t integration`` runs them all, ``nox -l --json -t integration`` lists them."""


def selected_in_this_run(session: Any, name: str) -> bool:
    """Whether this nox run selected session ``name`` too (``nox -k integration`` does).

    Asks the manifest with ``in``: iterating it would consume nox's queue.
    """
    manifest = getattr(getattr(session, "_runner", None), "manifest", None)
    try:
        return manifest is not None and name in manifest
    except TypeError:
        return False


def _all_session(found: list[Found], repo_root: Path) -> Callable[[Any], None]:
    def body(session: Any) -> None:
        from ci.tier2.multirun import session_all

        console = Console(prefix="tier2")
        # A suite selected on its own in this nox run (nox -k) never runs twice.
        alone = [f for f in found if selected_in_this_run(session, f"integration-{f.name}")]
        for f in alone:
            console.info(f"integration-{f.name}: selected on its own in this nox run")
        rest = [f for f in found if f not in alone]
        fail(session, session_all(session, rest, repo_root) if rest else 0, "integration",
             console)

    body.__doc__ = ("Every service's integration suite, side by side (-- --list, --filter, "
                    "--dry-run, --jobs N, --fail-fast); exits with the worst code.")
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


def _delegate(name: str, target: str, doc: str) -> Callable[[Any], None]:
    def body(session: Any) -> None:
        module_name, func_name = target.split(":")
        try:
            func = getattr(importlib.import_module(module_name), func_name)
        except (ImportError, AttributeError) as exc:
            session.error(f"{target} is not available: {exc}")
        try:
            func(session)
        except TiersError as exc:
            console = Console(prefix="tier2")
            console.error(exc.render())
            fail(session, int(exc.code), name, console)

    body.__doc__ = doc
    return body


def register(repo_root: Path, *, exit_hook: bool = False) -> list[str]:
    """Register every session; returns their names (for tests).

    ``exit_hook`` (the noxfile's call) makes nox exit with the worst
    documented code its sessions recorded (see :mod:`ci.tier2.outcome`).
    """
    if exit_hook:
        install_exit_hook()
    nox.options.reuse_venv = "yes"
    nox.options.default_venv_backend = "uv|virtualenv"
    found = discover(repo_root)
    names: list[str] = []

    def add(name: str, func: Callable[[Any], None], **kwargs: Any) -> None:
        nox.session(name=name, **kwargs)(func)
        names.append(name)

    for svc in found:
        add(f"integration-{svc.name}", _integration_session(svc, repo_root), default=False,
            tags=[INTEGRATION_TAG, svc.name])
    add("integration", _all_session(found, repo_root), venv_backend="none",
        default=False)
    add("tests", _tests(repo_root))
    add("lint", _lint(repo_root))
    for name, (target, doc) in DELEGATED.items():
        add(name, _delegate(name, target, doc), venv_backend="none", default=False)
    return names
