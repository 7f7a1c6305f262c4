"""A backing service that dies during the test stage ends the run at once, as exit 3.

The suite blocks until its server is gone and then hangs on it, as a client of
a dead database does: only the engine's watchdog can end that run. The
server is killed from outside (SIGKILL of the local process, ``docker kill``
of the container) once the test has printed that it began.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.reliability import (
    BACKENDS,
    WAIT_FOR_DEATH,
    Run,
    container_of,
    leftovers,
    make_checkout,
    recorded_processes,
    server_pid,
    settle,
)
from tests.prereqs import need_docker, need_servers

pytestmark = pytest.mark.integration

DETECTION_LIMIT = 1.0
"""Seconds from the death to the watchdog's verdict (the issue's figure)."""
OUTPUT_DELAY = 0.5
"""From pytest receiving SIGINT to its first line reaching us through the pipe."""
PYTEST_SHUTDOWN = 5.0
"""pytest's own exit after SIGINT (junit, summary), on a shared 2-core machine."""


def first_line_after(run: Run, pattern: str) -> float:
    """When the first line after the last one matching ``pattern`` was read."""
    lines = list(run.lines)
    marks = [i for i, (_, line) in enumerate(lines) if re.search(pattern, line)]
    assert marks and marks[-1] + 1 < len(lines), run.output
    return lines[marks[-1] + 1][0]


@pytest.fixture(params=["local", "compose"])
def backend(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any]]:
    if request.param == "local":
        need_servers(*BACKENDS.values())
        yield "local", None
        return
    need_docker()
    import docker

    cli = docker.from_env()
    try:
        yield "compose", cli
    finally:
        cli.close()


def kill_server(backend: str, cli: Any, run_id: str, backing: str) -> None:
    if backend == "local":
        os.kill(server_pid(run_id, backing), signal.SIGKILL)
    else:
        container_of(cli, run_id, backing).kill()


@pytest.mark.parametrize("backing", sorted(BACKENDS))
def test_a_backend_dying_in_the_test_stage_ends_the_run_as_exit_3(
        tmp_path: Path, backend: tuple[str, Any], backing: str) -> None:
    name, cli = backend
    env_name = backing.upper()
    co = make_checkout(tmp_path, WAIT_FOR_DEATH.format(name=backing, env=env_name))
    run = Run(co, name, "--", "-s")
    run_id = run.run_id
    run.wait_for(r"FAULTS-TEST-STARTED")
    tracked = recorded_processes(co.root)
    killed = time.monotonic()
    kill_server(name, cli, run_id, backing)
    code = run.finish(timeout=120)
    stage_line = run.wait_for(r"\] test\s+failed")
    out = run.output
    assert code == 3, out
    stopped = first_line_after(run, r"FAULTS-(SERVER-GONE|TEST-STARTED)") - killed
    elapsed = stage_line - killed
    print(f"{name} {backing}: pytest told to stop {stopped:.2f}s, test stage ended "
          f"{elapsed:.2f}s after the kill")
    assert stopped < DETECTION_LIMIT + OUTPUT_DELAY, out
    assert elapsed < DETECTION_LIMIT + PYTEST_SHUTDOWN, out
    assert f"{backing} died during the test stage" in out, out
    assert "Last lines of its log:" in out and "  | " in out, out
    data = co.run_json(run_id)
    assert data["exit_code"] == 3
    assert f"{backing} died during the test stage" in data["error"]
    assert "  | " in data["error"], "run.json carries the log tail too"
    stages = {s["name"]: s["status"] for s in data["stages"]}
    assert stages["test"] == "failed" and stages["down"] == "ok", stages
    assert settle(lambda: leftovers(co.root, {run_id}, tracked, cli)) == []
