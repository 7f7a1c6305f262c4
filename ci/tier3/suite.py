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

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable, Sequence
from configparser import ConfigParser
from dataclasses import dataclass
from pathlib import Path

from ci.errors import BackendDied, InfraError, Interrupted, SuiteError
from ci.junit import TestCounts, read_junit
from ci.masking import redact
from ci.probes import client_modules
from ci.service import Service
from ci.tier3.children import ENV_SUITE_OF, my_children, stop_leftovers
from ci.tier3.context import RunContext

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
    env[ENV_COUNTS] = str(artifacts / COUNTS_FILE)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env[ENV_SUITE_OF] = run_id
    return env


# -- running it --------------------------------------------------------------------
PLUGINS_DIR = Path(__file__).resolve().parent / "pytest_plugins"
"""Our pytest plugins, in a folder of their own put on pytest's PYTHONPATH."""
ENV_GATE = "TIERS_GATE_FD"
ENV_PRELOAD = "TIERS_PRELOAD"
ENV_COUNTS = "TIERS_PYTEST_COUNTS"
COUNTS_FILE = "pytest-counts.json"
_STARTUP_ENV = re.compile(r"PATH|PYTHON.*|VIRTUAL_ENV|COV.*|COVERAGE.*|LD_.*|LANG|LC_.*")
"""Variables that shape interpreter start-up: a prestarted pytest must have seen the same."""


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


class PytestProcess:
    """One pytest subprocess in its own process group, optionally held at a gate.

    Gated, it is started while the backends come up (interpreter, pytest and
    plugins load meanwhile) and released with the suite's final environment
    once they are ready, taking pytest's start-up off the critical path.
    """

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path, *,
                 gated: bool, preload: Sequence[str] = ()) -> None:
        self.argv = argv
        self.env = _with_plugins(env)
        log.parent.mkdir(parents=True, exist_ok=True)
        read_end: int | None = None
        self._gate: int | None = None
        if gated:
            read_end, self._gate = os.pipe()
            self.env[ENV_GATE] = str(read_end)
            if preload:
                self.env[ENV_PRELOAD] = ",".join(preload)
        self.proc = subprocess.Popen(
            [*argv[:3], "-p", "tiers_gate", "-p", "tiers_counts", *argv[3:]], cwd=cwd,
            env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, pass_fds=(read_end,) if read_end is not None else ())
        if read_end is not None:
            os.close(read_end)
        self.output = _Output(self.proc.stdout, log)
        self.output.start()

    def fits(self, argv: list[str], env: dict[str, str]) -> bool:
        """Whether this prestarted pytest can run ``argv`` under ``env``."""
        final = _with_plugins(env)
        startup = [k for k in {*final, *self.env} if _STARTUP_ENV.fullmatch(k)]
        return (self.proc.poll() is None and argv == self.argv
                and all(final.get(k) == self.env.get(k) for k in startup))

    def release(self, env: dict[str, str]) -> None:
        if self._gate is None:
            return
        final = _with_plugins(env)
        final.pop(ENV_GATE, None)
        final.pop(ENV_PRELOAD, None)
        with os.fdopen(self._gate, "w", encoding="utf-8") as gate:
            gate.write(json.dumps(final) + "\n")
        self._gate = None

    def abandon(self) -> None:
        """Not needed after all (set-up failed, or the environment changed): stop it."""
        if self._gate is not None:
            os.close(self._gate)  # the gate reads end-of-file and exits at once
            self._gate = None
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=3.0)
        _stop(self.proc)
        stop_leftovers(self.proc.pid, "", keep=my_children() - {self.proc.pid})
        self.output.join(timeout=1.0)

    def wait(self, run_id: str, watch: Callable[[], None] | None) -> PytestRun:
        """Wait for pytest's exit; stop it if ``watch`` raises or the run is interrupted."""
        ours = my_children() - {self.proc.pid}
        exited = _ExitNotice(self.proc)
        try:
            while (code := exited.within(WATCH_INTERVAL)) is None:
                if watch is not None:
                    watch()
        except BaseException:
            _stop(self.proc)
            raise
        finally:
            exited.close()
            leftovers = stop_leftovers(self.proc.pid, run_id, keep=ours)
            self.output.join(timeout=2.0)
        return PytestRun(code, [f"pid {x.pid} ({x.command})" for x in leftovers])


class _ExitNotice:
    """Wait for a process's exit, noticed the moment it happens.

    ``Popen.wait(timeout)`` polls with sleeps of up to 50 ms; a pidfd (Linux
    5.3+) becomes readable at the exit itself. Elsewhere, the polling wait.
    """

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.fd: int | None = None
        with contextlib.suppress(AttributeError, OSError):  # no pidfd_open here
            self.fd = os.pidfd_open(proc.pid)

    def within(self, timeout: float) -> int | None:
        """The exit code if the process ends within ``timeout`` seconds, else None."""
        if self.fd is None:
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return None
        ready, _, _ = select.select([self.fd], [], [], timeout)
        return self.proc.wait() if ready else None

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _with_plugins(env: dict[str, str]) -> dict[str, str]:
    out = dict(env)
    path = out.get("PYTHONPATH", "")
    if str(PLUGINS_DIR) not in path.split(os.pathsep):
        out["PYTHONPATH"] = os.pathsep.join(p for p in (str(PLUGINS_DIR), path) if p)
    return out


def run_pytest(argv: list[str], env: dict[str, str], cwd: Path, log: Path, *,
               run_id: str, watch: Callable[[], None] | None = None) -> PytestRun:
    """Run pytest to its exit (no gate); see :class:`PytestProcess`."""
    return PytestProcess(argv, env, cwd, log, gated=False).wait(run_id, watch)


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


def _command(ctx: RunContext) -> tuple[list[str], dict[str, str], ProjectConfig, list[str]]:
    config = project_config(ctx.service)
    argv, notes = pytest_argv(ctx.service, ctx.artifacts, ctx.pytest_args, config)
    # The run's identity (owner pid and start time) lets a later run stop this suite
    # if Tier 3 is SIGKILLed while it runs (children.sweep_orphaned_suites).
    env = {**suite_environ(ctx.env, ctx.artifacts, ctx.run.id), **ctx.run.process_env()}
    return argv, env, config, notes


def prestart(ctx: RunContext) -> PytestProcess | None:
    """Start pytest now, held at its gate until the test stage releases it."""
    if os.environ.get("TIERS_NO_PRESTART"):
        return None
    argv, env, config, _notes = _command(ctx)
    return PytestProcess(argv, env, config.rootdir, ctx.artifacts / "logs" / "pytest.log",
                         gated=True, preload=preload_modules(ctx.service))


def preload_modules(service: Service) -> list[str]:
    """What the held pytest imports before its gate (see ``Suite.preload``).

    By default the backends' client libraries: a suite against PostgreSQL,
    Redis and NATS imports psycopg, redis-py and nats-py (a quarter of a second
    here), and these read nothing from the environment when imported.
    """
    if service.suite.preload is not None:
        return list(service.suite.preload)
    return client_modules(service.backends)  # present: the preflight checked


def run_suite(ctx: RunContext) -> str:
    """The test stage: run pytest, record what it counted, turn its exit into ours."""
    argv, env, config, notes = _command(ctx)
    for note in notes:
        ctx.console.info(note)
    log = ctx.artifacts / "logs" / "pytest.log"
    proc, ctx.prestarted = ctx.prestarted, None
    if proc is not None and proc.fits(argv, env):
        proc.release(env)
    else:
        if proc is not None:
            proc.abandon()
        proc = PytestProcess(argv, env, config.rootdir, log, gated=False)
    try:
        result = proc.wait(ctx.run.id, _watchdog(ctx))
    except (KeyboardInterrupt, Interrupted, BackendDied):
        ctx.failed = True
        ctx.tests = _counts(ctx, config)
        raise
    ctx.tests = _counts(ctx, config)
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
        raise SuiteError(f"pytest could not start the suite: {first}",
                         hint="check Suite(args=...) in tier3.py, the arguments after --, "
                         "and the suite's conftest.py files")
    if PYTEST_EXIT.get(code, 1) != 0:
        ctx.failed = True
    return ctx.tests.summary() if ctx.tests else f"pytest exit code {code}"


def _counts(ctx: RunContext, config: ProjectConfig) -> TestCounts | None:
    """What pytest counted (its own closing figures), with failures located from JUnit."""
    counts = read_junit(ctx.artifacts / "junit.xml", config.rootdir,
                        [config.rootdir, ctx.service.directory])
    return counts.with_pytest_counts(ctx.artifacts / COUNTS_FILE) if counts else None


def _first_error(log: Path) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "see its message above"
    for line in text.splitlines():
        if re.match(r"(ERROR|error|usage):|ImportError while loading conftest", line):
            return line.strip()[:300]
    return "see its message above"
