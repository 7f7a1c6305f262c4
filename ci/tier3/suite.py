"""Run the service's pytest suite the way its own developers do, and judge the outcome.

pytest runs with the project's own configuration and from the project's own
root (where that configuration lives), so ``[tool.pytest.ini_options]``,
``[tool.coverage]``, relative paths and ``git`` behave as on a developer's
laptop. The framework adds only its evidence (JUnit XML, coverage reports) and
a per-test timeout when the project sets none.

While pytest runs, a watchdog asks the backend every quarter second whether
each server is still alive: a dead database ends the run within a second as
an infrastructure error naming it, instead of a slow cascade of test failures.
When pytest exits, whatever the suite left running is stopped
(:mod:`ci.tier3.children`); the stage waits for pytest's exit, never for its
output pipe to close, which a leftover child could hold open for ever.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable
from configparser import ConfigParser
from dataclasses import dataclass
from pathlib import Path

from ci.errors import BackendDied, InfraError, Interrupted, SuiteError
from ci.masking import redact
from ci.service import Service
from ci.tier3.children import ENV_SUITE_OF, my_children, stop_leftovers
from ci.tier3.context import RunContext
from ci.tier3.junit import read_junit

DEFAULT_TIMEOUT = 300
WATCH_INTERVAL = 0.25
# pytest's exit codes -> ours. 2 (interrupted, collection errors) and 3
# (internal error) mean the tests did not pass; 4 (usage) and 5 (no tests
# collected) mean the suite declaration or the extra args are wrong.
PYTEST_EXIT = {0: 0, 1: 1, 2: 1, 3: 1, 4: 4, 5: 4}


# -- the project's own configuration ----------------------------------------------
@dataclass(frozen=True)
class ProjectConfig:
    """The pytest configuration file pytest itself would pick, and where it lives."""

    path: Path | None
    rootdir: Path
    options: dict[str, str]

    @property
    def timeout(self) -> str | None:
        return self.options.get("timeout")


def _read_options(path: Path) -> dict[str, str] | None:
    """The pytest options in ``path``, or None when it holds no pytest section."""
    try:
        if path.name == "pyproject.toml":
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            section = data.get("tool", {}).get("pytest", {}).get("ini_options")
            return None if section is None else {k: str(v) for k, v in section.items()}
        parser = ConfigParser(interpolation=None)
        parser.read(path, encoding="utf-8")
    except (OSError, ValueError):
        return None
    for name in ("pytest", "tool:pytest"):
        if parser.has_section(name):
            return dict(parser.items(name))
    return {} if path.name in ("pytest.ini", ".pytest.ini") else None


def _is_framework_checkout(folder: Path) -> bool:
    """This framework's own pyproject: its test settings are not a service's."""
    try:
        data = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(data.get("project", {}).get("name") == "tiers" and (folder / "ci").is_dir())


def project_config(service: Service) -> ProjectConfig:
    start = service.directory
    for folder in (start, *start.parents):
        if folder != start and _is_framework_checkout(folder):
            break
        for name in ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"):
            path = folder / name
            if path.is_file():
                options = _read_options(path)
                if options is not None:
                    return ProjectConfig(path, folder, options)
    return ProjectConfig(None, start, {})


def pytest_argv(service: Service, artifacts: Path, extra: list[str],
                config: ProjectConfig) -> tuple[list[str], list[str]]:
    """``(argv, notes)``: the command line, and what the console should say about it."""
    suite = service.suite
    notes: list[str] = []
    paths = [str((service.directory / p).resolve()) for p in suite.path_list]
    argv = [sys.executable, "-m", "pytest", *paths,
            f"--junitxml={artifacts / 'junit.xml'}", "-o", "junit_family=xunit1",
            "-p", "no:cacheprovider"]
    if suite.timeout is not None:
        argv.append(f"--timeout={suite.timeout}")
        if config.timeout is not None:
            notes.append(f"Suite(timeout={suite.timeout}) overrides timeout={config.timeout} "
                         f"of {config.path}")
    elif config.timeout is None:
        argv.append(f"--timeout={DEFAULT_TIMEOUT}")
    for target in suite.cov_list:
        argv.append(f"--cov={target}")
    if suite.cov_list:
        argv += [f"--cov-report=xml:{artifacts / 'coverage.xml'}",
                 f"--cov-report=html:{artifacts / 'htmlcov'}", "--cov-report=term"]
    if config.path is None:
        # No configuration of its own: keep pytest from adopting the framework's
        # (its testpaths, its addopts) by naming an empty one.
        argv += ["-c", os.devnull, f"--rootdir={config.rootdir}"]
        notes.append(f"pytest: no configuration of its own; rootdir {config.rootdir}")
    else:
        notes.append(f"pytest: configuration {config.path}")
    if sys.stdout.isatty():
        argv.append("--color=yes")
    return [*argv, *suite.args, *extra], notes


def suite_environ(base: dict[str, str], artifacts: Path, run_id: str) -> dict[str, str]:
    env = dict(base)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bindir, env.get("PATH", "")])
    # Keep coverage's data file out of the service's source tree.
    env["COVERAGE_FILE"] = str(artifacts / ".coverage")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env[ENV_SUITE_OF] = run_id
    return env


# -- running it --------------------------------------------------------------------
@dataclass
class PytestRun:
    code: int
    leftovers: list[str]


class _Output(threading.Thread):
    """Copy pytest's output, masked, to the console and to pytest.log, line by line."""

    def __init__(self, stream: object, log: Path) -> None:
        super().__init__(name="pytest-output", daemon=True)
        self.stream = stream
        self.log = log

    def run(self) -> None:
        with open(self.log, "w", encoding="utf-8") as out:
            for raw in self.stream:  # type: ignore[attr-defined]
                line = redact(raw.decode("utf-8", "replace"))
                sys.stdout.write(line)
                sys.stdout.flush()
                out.write(line)
                out.flush()


def run_pytest(argv: list[str], env: dict[str, str], cwd: Path, log: Path, *,
               run_id: str, watch: Callable[[], None] | None = None) -> PytestRun:
    """Run pytest to its exit; stop it if ``watch`` raises or the run is interrupted."""
    log.parent.mkdir(parents=True, exist_ok=True)
    ours = my_children()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    output = _Output(proc.stdout, log)
    output.start()
    try:
        while True:
            try:
                code = proc.wait(timeout=WATCH_INTERVAL)
                break
            except subprocess.TimeoutExpired:
                if watch is not None:
                    watch()
    except BaseException:
        _stop(proc)
        raise
    finally:
        leftovers = stop_leftovers(proc.pid, run_id, keep=ours)
        output.join(timeout=2.0)
    return PytestRun(code, [f"pid {x.pid} ({x.command})" for x in leftovers])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Ask pytest to stop (it writes its partial summary and JUnit), then insist."""
    for sig, grace in ((signal.SIGINT, 5.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue


def _watchdog(ctx: RunContext) -> Callable[[], None]:
    def watch() -> None:
        for backing in ctx.service.backends:
            try:
                ctx.backend.check_alive(backing)
            except BackendDied as died:
                tail = redact(ctx.backend.log_tail(backing).rstrip()) or "(the log is empty)"
                lines = "\n".join("  | " + line for line in tail.splitlines())
                raise BackendDied(
                    f"{backing.name} died during the test stage: {died.message}; the suite "
                    f"was stopped. Last lines of its log:\n{lines}",
                    hint=died.hint or f"read logs/{backing.name}.log in the run's artifacts",
                ) from None

    return watch


def run_suite(ctx: RunContext) -> str:
    """The test stage: run pytest, record what it counted, turn its exit into ours."""
    config = project_config(ctx.service)
    argv, notes = pytest_argv(ctx.service, ctx.artifacts, ctx.pytest_args, config)
    for note in notes:
        ctx.console.info(note)
    # The run's identity (owner pid and start time) lets a later run stop this suite
    # if Tier 3 is SIGKILLed while it runs (children.sweep_orphaned_suites).
    env = {**suite_environ(ctx.env, ctx.artifacts, ctx.run.id), **ctx.run.process_env()}
    try:
        result = run_pytest(argv, env, config.rootdir, ctx.artifacts / "logs" / "pytest.log",
                            run_id=ctx.run.id, watch=_watchdog(ctx))
    except (KeyboardInterrupt, Interrupted, BackendDied):
        ctx.failed = True
        ctx.tests = read_junit(ctx.artifacts / "junit.xml")
        raise
    ctx.tests = read_junit(ctx.artifacts / "junit.xml")
    if result.leftovers:
        ctx.console.warn(f"the suite left {len(result.leftovers)} process(es) running; "
                         f"stopped: {', '.join(result.leftovers)[:300]}")
    code = result.code
    if code < 0:
        ctx.failed = True
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else -code
        raise InfraError(f"pytest was killed by signal {name} before it finished",
                         hint="out of memory (see dmesg), or killed by another process")
    ctx.test_exit = code
    if code == 5:
        ctx.failed = True
        raise SuiteError(
            f"pytest collected no tests from {', '.join(ctx.service.suite.path_list)} "
            f"(in {ctx.service.directory})",
            hint="check Suite(paths=...) in tier3.py and any -k/-m arguments")
    if code == 4:
        ctx.failed = True
        first = _first_error(ctx.artifacts / "logs" / "pytest.log")
        raise SuiteError(f"pytest rejected its command line: {first}",
                         hint="check Suite(args=...) in tier3.py and the arguments after --")
    if PYTEST_EXIT.get(code, 1) != 0:
        ctx.failed = True
    return ctx.tests.summary() if ctx.tests else f"pytest exit code {code}"


def _first_error(log: Path) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "see its message above"
    for line in text.splitlines():
        if re.match(r"(ERROR|error|usage):", line):
            return line.strip()[:300]
    return "see its message above"
