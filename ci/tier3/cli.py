"""``python services/<name>/ci/tier3.py``: the command line of every Tier 3 runner."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ci import keep
from ci.backends import REGISTRY, backend_class
from ci.backends.attached import AttachedBackend
from ci.backends.base import Backend
from ci.console import Console
from ci.errors import ConfigError, TiersError
from ci.exit_codes import DESCRIPTIONS, ExitCode
from ci.masking import ENV_SECRET_NAMES, masker
from ci.runinfo import RunInfo
from ci.service import STAGES, Service
from ci.tier3 import engine, select
from ci.tier3.artifacts import run_dir
from ci.tier3.context import RunContext
from ci.validation import resolve_env


def build_parser(service: Service) -> argparse.ArgumentParser:
    codes = "\n".join(f"  {int(c):>3}  {DESCRIPTIONS[c]}" for c in ExitCode)
    parser = argparse.ArgumentParser(
        prog=f"python services/{service.name}/ci/tier3.py",
        description=f"Tier 3 for {service.name}: up, wait, migrate, test, collect, down. "
        "Arguments after `--` go to pytest.",
        epilog=f"exit codes:\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--backend", choices=["auto", *REGISTRY],
                        help=f"how to run the backing services (default: ${select.ENV_BACKEND}, "
                        "then the service's default, then auto: compose when Docker "
                        "answers, else local)")
    parser.add_argument("--keep", action="store_true",
                        help="leave the backends up; print how to reach and tear them down")
    parser.add_argument("--only", metavar="STAGES",
                        help=f"comma-separated stages to run, from {','.join(STAGES)}")
    parser.add_argument("--attach", metavar="RUN_ID",
                        help="use the backends of a run left up with --keep (skips up/down)")
    parser.add_argument("--down", metavar="RUN_ID", help="tear down a run left up with --keep")
    parser.add_argument("--list-kept", action="store_true", help="list runs left up with --keep")
    parser.add_argument("--artifacts", metavar="DIR",
                        help="artifacts base folder (default: $TIERS_ARTIFACTS_DIR or "
                        "<checkout>/artifacts)")
    # -- kubernetes backend options (docs/kubernetes-backend.md) -----------------------
    parser.add_argument("--kube-context", metavar="NAME",
                        help="kubernetes: the kubeconfig context (default: $TIERS_KUBE_CONTEXT; "
                        "otherwise only a local kind-*/k3d-*/minikube/docker-desktop/"
                        "rancher-desktop current context)")
    parser.add_argument("--load-images", action="store_true",
                        help="kubernetes: import the stack's images into a kind/k3d cluster")
    parser.add_argument("--in-cluster", nargs="?", const="", metavar="IMAGE",
                        help="kubernetes: run the suite as a Job in the cluster (test image: "
                        "IMAGE, else $TIERS_KUBE_TEST_IMAGE)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print what the backend would create, start nothing, exit 0")
    # -- end kubernetes backend options ------------------------------------------------
    return parser


def _split(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    argv = list(argv)
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def _register_secrets(service: Service) -> None:
    """Mask declared secrets and those Tier 2 names, before anything prints."""
    names = {v.name for v in service.requires if v.secret}
    names |= {n for n in os.environ.get(ENV_SECRET_NAMES, "").split(",") if n}
    for name in names:
        masker.register(os.environ.get(name))


def _stages(only: str | None, attach: bool) -> list[str]:
    if only:
        chosen = [s.strip() for s in only.split(",") if s.strip()]
        unknown = [s for s in chosen if s not in STAGES]
        if unknown:
            raise ConfigError(f"--only: unknown stage(s) {unknown}",
                              hint=f"stages: {','.join(STAGES)}")
        if not attach and "up" not in chosen and {"wait", "migrate", "test"} & set(chosen):
            raise ConfigError("--only without 'up' needs backends that are already running",
                              hint="run once with --keep, then pass --attach RUN_ID")
        selected = [s for s in STAGES if s in chosen]
        if "up" in selected and "down" not in selected:
            selected.append("down")  # what we start, we stop (unless --keep)
    else:
        selected = list(STAGES)
    if attach:
        selected = [s for s in selected if s not in ("up", "down")]
    return selected


def main(service: Service, argv: Sequence[str] | None = None) -> int:
    own, pytest_args = _split(sys.argv[1:] if argv is None else argv)
    args = build_parser(service).parse_args(own)
    console = Console(service.name)
    _register_secrets(service)
    try:
        return _main(service, args, pytest_args, console)
    except TiersError as exc:
        console.error(exc.render())
        return int(exc.code)
    except KeyboardInterrupt:
        console.error("interrupted before anything was started")
        return int(ExitCode.INTERRUPTED)


def _main(service: Service, args: argparse.Namespace, pytest_args: list[str],
          console: Console) -> int:
    run = RunInfo(service.name, service.repo_root)
    if args.list_kept:
        for state in keep.list_kept(service.repo_root):
            console.info(f"{state['run_id']}  {state['service']}  {state['backend']}")
        return 0
    if args.down:
        return _down(service, run, console, args.down)

    resolution = resolve_env(service, os.environ)
    for note in resolution.notes:
        console.info(note)
    stages = _stages(args.only, bool(args.attach))

    backend: Backend
    if args.attach:
        backend = AttachedBackend.load(service, run, console, args.attach)
        console.info(f"backend: {backend.describe()}")
    else:
        name, reason = select.choose(args.backend, service)
        backend = backend_class(name)(service, run, console)
        backend.configure(args)
        if args.dry_run:
            for item in backend.plan():
                print(item)
            return 0
        console.info(f"backend: {backend.describe()} ({reason})")

    artifacts = run_dir(service.repo_root, service.name, run.timestamp, run.id,
                        Path(args.artifacts) if args.artifacts else None)
    env = {**os.environ, **resolution.values, **service.env}
    ctx = RunContext(service=service, run=run, console=console, backend=backend,
                     artifacts=artifacts, env=env, pytest_args=pytest_args, keep=args.keep)
    if getattr(args, "in_cluster", None) is not None:
        # kubernetes --in-cluster: the suite itself runs as a Job (docs/kubernetes-backend.md)
        if not hasattr(backend, "run_in_cluster"):
            raise ConfigError(f"--in-cluster needs --backend kubernetes, not {backend.name}")
        return int(backend.run_in_cluster(artifacts, env))
    console.info(f"run {run.id}: stages {','.join(stages)}; artifacts {artifacts}")
    return engine.run(ctx, stages)


def _down(service: Service, run: RunInfo, console: Console, run_id: str) -> int:
    state = keep.load(service.repo_root, run_id)
    if state is None:
        raise ConfigError(f"no kept run {run_id!r} in this checkout",
                          hint="list them with --list-kept")
    backend = backend_class(state["backend"])(service, run, console)
    for line in backend.release(run_id):
        console.info(f"removed {line}")
    keep.forget(service.repo_root, run_id)
    console.info(f"kept run {run_id} torn down")
    return 0
