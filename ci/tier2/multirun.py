"""``nox -s integration``: every selected service, side by side, isolated, one report.

Each service runs as its own ``nox -s integration-<svc>`` subprocess, in its
own process group. That reuses Tier 2 unchanged (env layers, validation,
secrets, install into the service's own venv) and keeps the services apart
where it matters: a crash, a hang or a signal in one cannot reach another, and
each run gets its own run id, free ports, compose project (``<svc>-<run id>``)
and artifacts folder from Tier 3 as a single run would.

Output is read line by line and printed as ``<svc> | line``; GitHub workflow
commands (``::add-mask::``, ``::error``) pass through unprefixed, because a
prefixed ``::add-mask::`` line would print the value it was meant to hide. The
whole output of each service is also kept in ``logs/session.log`` of its run
folder. SIGINT/SIGTERM are forwarded as SIGTERM to every running service's
process group (Tier 2 forwards it to Tier 3, which tears down), and the
session waits for all of them before it reports.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from ci.console import Console
from ci.errors import ConfigError, TiersError
from ci.exit_codes import ExitCode
from ci.masking import redact
from ci.tier2 import capacity, plan
from ci.tier2.discovery import Found
from ci.tier2.multirun_args import Args, parse
from ci.tier2.procgroup import kill_group, terminate_group, wait_group_gone
from ci.tier3.artifacts import ENV_ARTIFACTS

# The order of badness, for the run's exit code: an interrupted run is
# incomplete (130), an infrastructure failure says nothing about the code (3),
# a configuration error started nothing (2), failed tests are a verdict (1).
# An exit code outside the documented set ranks between 3 and 130 and the run
# then exits 3: something broke that the framework cannot name.
RANK: dict[int, int] = {0: 0, 1: 1, 2: 2, 3: 3, 130: 5}
UNKNOWN_RANK = 4
STATUS: dict[int, str] = {0: "passed", 1: "failed", 2: "config error", 3: "infra error",
                          130: "interrupted"}
GRACE_SECONDS = 5.0
"""How long processes left in a finished service's group get before SIGKILL."""
TEARDOWN_SECONDS = 300.0
"""How long an interrupted service gets to tear down before its group is killed."""


def rank(code: int) -> int:
    return RANK.get(code, UNKNOWN_RANK)


def worst(codes: Sequence[int]) -> int:
    """The run's exit code: the worst of ``codes`` by :data:`RANK` (0 for none)."""
    if not codes:
        return 0
    code = max(codes, key=rank)
    return code if code in RANK else int(ExitCode.INFRA)


def artifacts_base(repo_root: Path, environ: Mapping[str, str] | None = None) -> Path:
    """``artifacts/integration`` as Tier 3 resolves it (``TIERS_ARTIFACTS_DIR`` honoured)."""
    env = os.environ if environ is None else environ
    base = env.get(ENV_ARTIFACTS)
    return (Path(base) if base else repo_root / "artifacts") / "integration"


@dataclass
class ServiceRun:
    """One service's session in this run, and what it left."""

    name: str
    command: list[str]
    log: Path
    status: str = "not started"
    exit_code: int | None = None
    counted: bool = True
    """False for services cancelled by --fail-fast or never started."""
    started: float | None = None
    ended: float | None = None
    started_at: str | None = None
    run_dir: Path | None = None
    notes: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    reader: threading.Thread | None = None
    existing: set[str] = field(default_factory=set)
    cancelled: bool = False
    timed_out: bool = False

    @property
    def seconds(self) -> float:
        if self.started is None:
            return 0.0
        return (self.ended or time.monotonic()) - self.started


class Printer:
    """Prefixes each line with its service; one lock, so lines never interleave."""

    def __init__(self, names: Sequence[str], stream: TextIO | None = None) -> None:
        self.width = max((len(n) for n in names), default=0)
        self._stream = stream
        # Re-entrant: the signal handler prints from the main thread, which may
        # be inside line() already when the signal arrives.
        self._lock = threading.RLock()

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stdout

    def line(self, name: str, text: str) -> None:
        if text.startswith("::") and not text.startswith(("::group::", "::endgroup::")):
            out = text  # a workflow command only works at the start of a line
        else:
            out = f"{name:<{self.width}} | {text}"
        with self._lock:
            self.stream.write(out + "\n")
            self.stream.flush()


class MultiRun:
    def __init__(self, services: Sequence[Mapping[str, Any]], *, repo_root: Path,
                 jobs: int, fail_fast: bool, timeout: float | None,
                 base: Path, stream: TextIO | None = None,
                 environ: Mapping[str, str] | None = None,
                 passthrough: Sequence[str] = (),
                 command: Callable[[str], list[str]] | None = None) -> None:
        self.repo_root = repo_root
        self.jobs = max(1, jobs)
        self.fail_fast = fail_fast
        self.timeout = timeout
        self.base = base
        self.environ = dict(os.environ if environ is None else environ)
        self.stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        names = [str(s["name"]) for s in services]
        self.printer = Printer(names, stream)
        self.console = Console(prefix="integration", stream=stream)
        noxfile = str(repo_root / "noxfile.py")

        def nox_command(name: str) -> list[str]:
            return [sys.executable, "-m", "nox", "-f", noxfile, "-s", f"integration-{name}",
                    "--", *passthrough]

        make = command or nox_command
        self.runs = [ServiceRun(name=name, command=make(name),
                                log=base / name / f"session-{self.stamp}.log")
                     for name in names]
        self.interrupted = False
        self.interrupted_at: float | None = None
        self.stopping = False
        self._done: queue.Queue[ServiceRun] = queue.Queue()
        self._lock = threading.Lock()
        self.started_at = dt.datetime.now(dt.UTC)
        self.t0 = time.monotonic()

    # -- signals -------------------------------------------------------------
    def interrupt(self, signum: int, _frame: FrameType | None = None) -> None:
        """Stop everything: forward SIGTERM to every running group, start nothing new."""
        first = not self.interrupted
        self.interrupted = True
        if self.interrupted_at is None:
            self.interrupted_at = time.monotonic()
        self.stopping = True
        if first:
            self.printer.line("integration", f"{signal.Signals(signum).name}: stopping every "
                              "running service (each tears down before it exits)")
        for run in self.runs:
            self._terminate(run)

    def _terminate(self, run: ServiceRun) -> None:
        proc = run.proc
        if proc is None or proc.poll() is not None:
            return
        terminate_group(proc.pid)

    # -- running ---------------------------------------------------------------
    def _start(self, run: ServiceRun) -> None:
        folder = self.base / run.name
        folder.mkdir(parents=True, exist_ok=True)
        run.existing = {p.name for p in folder.iterdir() if p.is_dir()}
        env = dict(self.environ)
        env["PYTHONUNBUFFERED"] = "1"
        run.started = time.monotonic()
        run.started_at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        run.status = "running"
        run.proc = subprocess.Popen(run.command, cwd=self.repo_root, env=env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        run.reader = threading.Thread(target=self._pump, args=(run,), daemon=True)
        run.reader.start()
        threading.Thread(target=self._wait, args=(run,), daemon=True).start()

    def _pump(self, run: ServiceRun) -> None:
        assert run.proc is not None and run.proc.stdout is not None
        run.log.parent.mkdir(parents=True, exist_ok=True)
        with open(run.log, "w", encoding="utf-8") as log:
            for raw in iter(run.proc.stdout.readline, b""):
                text = redact(raw.decode("utf-8", "replace").rstrip("\r\n"))
                log.write(text + "\n")
                log.flush()
                self.printer.line(run.name, text)

    def _wait(self, run: ServiceRun) -> None:
        assert run.proc is not None
        run.proc.wait()
        if run.reader is not None:
            # A process left behind may hold the pipe open: do not wait on it
            # here; _finish kills the group, which closes the pipe.
            run.reader.join(GRACE_SECONDS)
        self._done.put(run)

    def _finish(self, run: ServiceRun) -> None:
        assert run.proc is not None
        run.ended = time.monotonic()
        left = wait_group_gone(run.proc.pid, GRACE_SECONDS)
        if left:
            run.notes.append(f"killed {len(left)} process(es) left in its group: "
                             f"{', '.join(map(str, left))}")
            kill_group(run.proc.pid)
        if run.reader is not None:
            run.reader.join(GRACE_SECONDS)
            if run.reader.is_alive():
                run.notes.append("its output pipe is still held open by a process outside "
                                 "its group; the log may be incomplete")
        code = run.proc.returncode
        if code < 0:  # killed by a signal before it could say anything
            code = 130 if (self.interrupted or run.cancelled) else int(ExitCode.INFRA)
            run.notes.append(f"ended by signal {-run.proc.returncode}")
        if run.timed_out:
            run.status, run.exit_code = "timed out", int(ExitCode.INFRA)
            run.notes.append(f"stopped after the --timeout of {self.timeout:g}s")
        elif run.cancelled and not self.interrupted:
            run.status, run.exit_code, run.counted = "cancelled", code, False
            run.notes.append("stopped by --fail-fast after another service failed")
        else:
            run.exit_code = code
            run.status = STATUS.get(code, f"exit {code}")
        run.run_dir = self._find_run_dir(run)
        self._keep_log(run)
        self.console.info(f"{run.name}: {run.status} (exit {run.exit_code}) "
                          f"in {run.seconds:.1f}s")

    def _find_run_dir(self, run: ServiceRun) -> Path | None:
        """The run folder Tier 3 created during this session (it holds run.json)."""
        folder = self.base / run.name
        if not folder.is_dir():
            return None
        fresh = [p for p in folder.iterdir() if p.is_dir() and p.name not in run.existing
                 and (p / "run.json").is_file()]
        return max(fresh, key=lambda p: p.name) if fresh else None

    def _keep_log(self, run: ServiceRun) -> None:
        if run.run_dir is None or not run.log.exists():
            return
        target = run.run_dir / "logs" / "session.log"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(run.log), target)
        run.log = target

    def run(self) -> list[ServiceRun]:
        pending = list(self.runs)
        running: list[ServiceRun] = []
        while pending or running:
            while pending and len(running) < self.jobs and not self.stopping:
                run = pending.pop(0)
                self._start(run)
                running.append(run)
            if self.stopping and not running:
                break
            try:
                done = self._done.get(timeout=0.2)
            except queue.Empty:
                self._check_timeouts(running)
                continue
            running.remove(done)
            self._finish(done)
            if self.fail_fast and done.exit_code not in (0, None) and not self.stopping:
                self.stopping = True
                for other in running:
                    other.cancelled = True
                    self._terminate(other)
        for run in pending:
            run.counted = False
            run.status = "not started"
            run.notes.append("interrupted before it started" if self.interrupted
                             else "not started: --fail-fast")
        return self.runs

    def _check_timeouts(self, running: Sequence[ServiceRun]) -> None:
        if (self.interrupted_at is not None
                and time.monotonic() - self.interrupted_at > TEARDOWN_SECONDS):
            for run in running:
                if run.proc is not None and run.proc.poll() is None:
                    run.notes.append(f"killed: no exit {TEARDOWN_SECONDS:g}s after the signal")
                    kill_group(run.proc.pid)
        if self.timeout is None:
            return
        for run in running:
            if not run.timed_out and run.seconds > self.timeout:
                run.timed_out = True
                self.printer.line(run.name, f"timed out after {self.timeout:g}s: stopping it")
                self._terminate(run)

    def records(self) -> list[dict[str, Any]]:
        """What the report needs of each service, in run order."""
        return [{
            "name": r.name, "status": r.status, "exit_code": r.exit_code,
            "counted": r.counted, "started": r.started_at,
            "offset": round(r.started - self.t0, 3) if r.started is not None else None,
            "seconds": round(r.seconds, 3), "run_dir": r.run_dir,
            "log": r.log if r.log.exists() else None, "notes": list(r.notes),
            "command": list(r.command),
        } for r in self.runs]

    def exit_code(self) -> int:
        if self.interrupted:
            return int(ExitCode.INTERRUPTED)
        return worst([r.exit_code for r in self.runs if r.counted and r.exit_code is not None])


# -- the session ------------------------------------------------------------------
def session_all(session: Any, found: list[Found], repo_root: Path) -> int:
    """The body of ``nox -s integration``: returns the run's exit code."""
    console = Console(prefix="integration")
    try:
        return _session(list(session.posargs), found, repo_root, console)
    except TiersError as exc:
        console.error(exc.render())
        return int(exc.code)


def _session(posargs: list[str], found: list[Found], repo_root: Path,
             console: Console, stream: TextIO | None = None) -> int:
    args = parse(posargs)
    if not found:
        raise ConfigError("no services: no services/<name>/ci/tier3.py in this checkout")
    selected = plan.select(found, args.filters)
    backend = plan.option_value(args.passthrough, "--backend") or "auto"
    jobs, reason = ((args.jobs, "--jobs") if args.jobs is not None
                    else capacity.default_jobs(len(selected), backend))
    the_plan = plan.build(found, repo_root, filters=args.filters,
                          passthrough=args.passthrough, jobs=jobs, jobs_reason=reason,
                          fail_fast=args.fail_fast, timeout=args.timeout,
                          with_cache=args.list_only or args.dry_run)
    out = stream or sys.stdout
    if args.list_only or args.dry_run:
        if args.json:
            out.write(json.dumps(the_plan, indent=2) + "\n")
        else:
            lines = (plan.render_list(the_plan) if args.list_only
                     else plan.render_dry_run(the_plan))
            out.write("\n".join(lines) + "\n")
        return 0
    return run_plan(the_plan, args, repo_root, console, stream)


def run_plan(the_plan: Mapping[str, Any], args: Args, repo_root: Path, console: Console,
             stream: TextIO | None = None,
             command: Callable[[str], list[str]] | None = None) -> int:
    from ci.report import write_report

    base = artifacts_base(repo_root)
    runner = MultiRun(the_plan["services"], repo_root=repo_root, jobs=the_plan["jobs"],
                      fail_fast=args.fail_fast, timeout=args.timeout, base=base,
                      stream=stream, passthrough=the_plan["passthrough"], command=command)
    console.info(f"{len(runner.runs)} service(s), {runner.jobs} at a time "
                 f"({the_plan['jobs_reason']})")
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, runner.interrupt)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        runner.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    code = runner.exit_code()
    for line in write_report(runner.records(), base, started=runner.started_at,
                             jobs=runner.jobs, exit_code=code):
        console.info(line)
    return code
