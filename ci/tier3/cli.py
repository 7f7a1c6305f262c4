"""``python services/<name>/ci/tier3.py``: the command line of every Tier 3 runner.

:func:`main` never lets an exception out: every ending has its documented
exit code, and an infrastructure crash can never read as "tests failed".
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from ci import keep, runcache
from ci.backends import backend_class
from ci.backends.attached import AttachedBackend
from ci.backends.base import Backend
from ci.console import Console
from ci.errors import ConfigError, Interrupted, TiersError
from ci.exit_codes import DESCRIPTIONS, ExitCode
from ci.masking import ENV_SECRET_NAMES, masker
from ci.runinfo import RunInfo
from ci.service import Service, relative
from ci.stages import STAGES, Stage
from ci.tier3 import engine, options, preflight, select
from ci.tier3.artifacts import run_dir
from ci.tier3.children import become_subreaper
from ci.tier3.context import RunContext
from ci.validation import in_ci, resolve_env


def build_parser(service: Service) -> argparse.ArgumentParser:
    codes = "\n".join(f"  {int(c):>3}  {DESCRIPTIONS[c]}" for c in ExitCode)
    return options.build_parser(
        prog=f"python {relative(service.directory / 'ci' / 'tier3.py', Path.cwd())}",
        description=f"Tier 3 for {service.name}: {', '.join(STAGES)}. "
        "Arguments after `--` go to pytest.",
        epilog=f"exit codes:\n{codes}",
    )


def _split(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    argv = list(argv)
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def _raise_interrupted(signum: int, _frame: object) -> None:
    raise Interrupted(signal.Signals(signum).name)


def exit_now(code: int) -> NoReturn:
    """End the process with ``code``, skipping the interpreter's teardown of modules.

    By the time Tier 3 returns, the servers are stopped, the artifacts written
    and the verdict printed; what a normal exit adds is freeing every imported
    module, 60 ms once psycopg, redis-py and nats-py are loaded. What a normal
    exit promises is kept, in the interpreter's own order: threading's exit
    hooks run (a thread pool a hook left open is told to stop) and non-daemon
    threads are joined, then atexit handlers (weakref finalizers among them)
    run, and only then ``os._exit``.
    """
    threading._shutdown()  # type: ignore[attr-defined]  # what Py_FinalizeEx calls first
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def main(service: Service, argv: Sequence[str] | None = None) -> int:
    """Run Tier 3; returns the exit code (the caller exits with it)."""
    command = [sys.argv[0], *(sys.argv[1:] if argv is None else argv)]
    own, pytest_args = _split(command[1:])
    args = build_parser(service).parse_args(own)  # usage errors: argparse exits 2
    console = Console(service.name)
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)  # 130, never 143
    try:
        return _main(service, args, pytest_args, console, command)
    except TiersError as exc:
        console.error(exc.render())
        return int(exc.code)
    except (KeyboardInterrupt, Interrupted):
        console.error("interrupted before anything was started")
        return int(ExitCode.INTERRUPTED)
    except ModuleNotFoundError as exc:  # the framework's own deps: the wrong interpreter
        console.error(ConfigError(
            f"this Python ({sys.executable}) lacks the module {exc.name!r} the framework needs",
            hint=f"run through `nox -s integration-{service.name}`, or activate its venv "
            f"(.nox/integration-{service.name}/bin/activate); nothing was started").render())
        return int(ExitCode.CONFIG)
    except Exception:
        console.error("internal error in the framework (not a test failure):\n"
                      + masker.redact(traceback.format_exc()))
        return int(ExitCode.INFRA)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _check_flags(args: argparse.Namespace) -> None:
    modes = [m for m in options.MODES if getattr(args, m)]
    if len(modes) > 1:
        raise ConfigError(f"--{modes[0].replace('_', '-')} and --{modes[1].replace('_', '-')} "
                          "cannot be combined", hint="choose one")
    if modes and modes[0] in ("down", "list_kept"):
        clash = [f for f in options.RUN_ONLY if getattr(args, f)]
        if clash:
            raise ConfigError(f"--{modes[0].replace('_', '-')} does not start a run, so "
                              f"--{clash[0].replace('_', '-')} means nothing with it",
                              hint="drop one of them")


def _stages(only: str | None, attach: bool) -> list[Stage]:
    if not only:
        chosen = list(Stage)
    else:
        names = [s.strip() for s in only.split(",") if s.strip()]
        unknown = [s for s in names if s not in STAGES]
        if unknown:
            raise ConfigError(f"--only: unknown stage(s) {', '.join(unknown)}",
                              hint=f"stages: {','.join(STAGES)}")
        chosen = [s for s in Stage if s.value in names]
        if not attach and Stage.UP not in chosen:
            if any(s.starts_or_uses_backends for s in chosen):
                raise ConfigError("--only without 'up' needs backends that are already running",
                                  hint="run once with --keep, then pass --attach RUN_ID")
            raise ConfigError(f"--only {only} has nothing to act on without 'up'",
                              hint="to tear down a kept run use --down RUN_ID")
        if Stage.UP in chosen and Stage.DOWN not in chosen:
            chosen.append(Stage.DOWN)  # what we start, we stop (unless --keep)
    if attach:
        chosen = [s for s in chosen if s not in (Stage.UP, Stage.DOWN)]
    return chosen


def _register_secrets(service: Service, environ: dict[str, str],
                      from_files: dict[str, str]) -> None:
    """Mask declared secrets, those Tier 2 names, and secret-looking .env keys (as Tier 2
    does), before anything prints."""
    from ci.tier2.secrets import looks_secret

    names = {v.name for v in service.requires if v.secret}
    names |= {n for n in environ.get(ENV_SECRET_NAMES, "").split(",") if n}
    names |= {n for n in from_files if looks_secret(n)}
    names.discard(ENV_SECRET_NAMES)  # a list of names, not a secret: masking it hides them
    for name in names:
        masker.register(environ.get(name))


def _environment(service: Service, env_flag: str | None) -> tuple[str, dict[str, str]]:
    """The env name and the .env layers' values: the same inputs Tier 2 would give."""
    from ci.tier2.envfiles import load_layers
    from ci.tier2.prepare import environment_name

    name = environment_name(env_flag, os.environ)
    layers = load_layers(service.repo_root, service.directory, name, os.environ)
    return name, layers.values


def _main(service: Service, args: argparse.Namespace, pytest_args: list[str],
          console: Console, command: list[str]) -> int:
    _check_flags(args)
    run = RunInfo(service.name, service.repo_root)
    if args.list_kept:
        for state in keep.list_kept(service.repo_root):
            console.info(f"{state.run_id}  {state.service}  {state.backend}  ({state.down})")
        return 0
    if args.down:
        return _down(service, run, console, args.down)

    env_name, layered = _environment(service, args.env)
    environ = {**layered, **os.environ}
    _register_secrets(service, environ, layered)
    resolution = resolve_env(service, environ)
    for note in resolution.notes:
        console.info(note)
    stages = _stages(args.only, bool(args.attach))
    preflight.check(service)

    backend: Backend
    if args.attach:
        backend = AttachedBackend.load(service, run, console, args.attach)
        console.info(f"backend: {backend.describe()}")
    else:
        name, reason = select.choose(args.backend, service)
        backend = backend_class(name)(service, run, console)
        backend.configure(args)
        if args.dry_run:
            for line in backend.plan():
                print(line)
            return 0
        console.info(f"backend: {backend.describe()} ({reason})")

    use_cache = not (args.no_cache or runcache.disabled())
    whole = (stages == list(Stage) and not args.keep and not pytest_args
             and not runcache.turned_off())
    cache_key = {"backend": backend.name, "env_name": env_name, "environ": environ}
    if whole and use_cache:
        hit = runcache.lookup(service, **cache_key)  # type: ignore[arg-type]
        if hit is not None:
            console.info(hit.describe())
            console.info(f"artifacts of that run: {hit.run_dir} (--no-cache runs it again)")
            return 0

    artifacts = run_dir(service.repo_root, service.name, run.timestamp, run.id,
                        Path(args.artifacts) if args.artifacts else None)
    become_subreaper()
    env = {**environ, **resolution.values, **service.env}
    ctx = RunContext(service=service, run=run, console=console, backend=backend,
                     artifacts=artifacts, env=env, pytest_args=pytest_args, keep=args.keep,
                     command=[*command[:1], *command[1:]], env_name=env_name,
                     selected=stages, use_cache=use_cache)
    if args.in_cluster is not None:
        # kubernetes --in-cluster: the suite itself runs as a Job (docs/kubernetes-backend.md)
        if not hasattr(backend, "run_in_cluster"):
            raise ConfigError(f"--in-cluster needs --backend kubernetes, not {backend.name}",
                              hint="add --backend kubernetes")
        return int(backend.run_in_cluster(artifacts, env))
    console.info(f"run {run.id}: stages {','.join(stages)}; env {env_name}; "
                 f"artifacts {artifacts}")
    code = engine.run(ctx, stages)
    if whole:
        # A pass is remembered (even under --no-cache, which only skips the lookup);
        # a failure forgets any pass cached for the same inputs.
        with contextlib.suppress(OSError):
            runcache.store(service, artifacts, **cache_key)  # type: ignore[arg-type]
    return code


def _down(service: Service, run: RunInfo, console: Console, run_id: str) -> int:
    state = keep.load(service.repo_root, run_id)
    if state is None:
        known = ", ".join(s.run_id for s in keep.list_kept(service.repo_root)) or "none"
        raise ConfigError(f"no kept run {run_id!r} in this checkout (kept runs: {known})",
                          hint="list them with --list-kept")
    backend = backend_class(state.backend)(service, run, console)
    for line in backend.release(run_id):
        console.info(f"removed {line}")
    keep.forget(service.repo_root, run_id)
    console.info(f"kept run {run_id} torn down")
    return 0


__all__ = ["build_parser", "exit_now", "in_ci", "main"]
