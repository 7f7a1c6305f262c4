"""Run the service's pytest suite in a subprocess and map its exit code.

The suite runs from the service's folder (its packages import exactly as when
its developers run pytest) with the current environment's ``bin/`` first on
PATH. Its output is streamed through the masker, to the terminal and to
``logs/pytest.log``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from ci.errors import Interrupted
from ci.masking import redact
from ci.service import Service

# pytest's exit codes -> ours. 2 (interrupted, collection errors) and 3
# (internal error) mean the tests did not pass; 4 (usage) and 5 (no tests
# collected) mean the suite declaration or the extra args are wrong.
PYTEST_EXIT = {0: 0, 1: 1, 2: 1, 3: 1, 4: 2, 5: 2}


def pytest_argv(service: Service, artifacts: Path, extra: list[str]) -> list[str]:
    suite = service.suite
    argv = [sys.executable, "-m", "pytest", *suite.path_list,
            f"--junitxml={artifacts / 'junit.xml'}", "-o", "junit_family=xunit1",
            "-p", "no:cacheprovider", f"--timeout={suite.timeout}"]
    for target in suite.cov_list:
        argv.append(f"--cov={target}")
    if suite.cov_list:
        argv += [f"--cov-report=xml:{artifacts / 'coverage.xml'}",
                 f"--cov-report=html:{artifacts / 'htmlcov'}", "--cov-report=term"]
    if not has_pytest_config(service.directory):
        # Without its own config pytest would walk up and adopt the framework's
        # pyproject.toml (its testpaths, its addopts). Give it an empty one.
        argv += ["-c", os.devnull, f"--rootdir={service.directory}"]
    if sys.stdout.isatty():
        argv.append("--color=yes")
    return [*argv, *suite.args, *extra]


def has_pytest_config(folder: Path) -> bool:
    if (folder / "pytest.ini").exists() or (folder / ".pytest.ini").exists():
        return True
    for name, marker in (("pyproject.toml", "[tool.pytest"), ("tox.ini", "[pytest]"),
                         ("setup.cfg", "[tool:pytest]")):
        path = folder / name
        if path.exists() and marker in path.read_text(errors="replace"):
            return True
    return False


def suite_environ(base: dict[str, str], artifacts: Path) -> dict[str, str]:
    env = dict(base)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bindir, env.get("PATH", "")])
    # Keep coverage's data file out of the service's source tree.
    env["COVERAGE_FILE"] = str(artifacts / ".coverage")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run_pytest(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> int:
    """Run pytest, streaming masked output; returns pytest's own exit code.

    On Ctrl-C/SIGTERM the child is asked to stop (it prints its partial
    summary), then killed if it does not, and the interrupt is re-raised.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    try:
        with open(log, "w", encoding="utf-8") as out:
            for raw in proc.stdout:
                line = redact(raw.decode("utf-8", "replace"))
                sys.stdout.write(line)
                sys.stdout.flush()
                out.write(line)
        return proc.wait()
    except (KeyboardInterrupt, Interrupted):
        _stop(proc)
        raise
    finally:
        if proc.poll() is None:
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, grace in ((signal.SIGINT, 5.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        if proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
