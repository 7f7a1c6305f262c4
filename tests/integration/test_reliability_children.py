"""A test that leaves a process running neither hangs the run nor outlives it.

Each way a child can escape is tried: one that holds pytest's output pipe
(``-s``), one in pytest's process group, one in a session of its own
(``setsid``), and a daemon that double-forks and drops its environment, so only
the subreaper net can find it. The children write their pids to a file; after
the run every one of them must be gone.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.integration.reliability import Run, base_env, make_checkout, processes_of, settle
from tests.integration.test_reliability_death import backend  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

LEAVES_CHILDREN = '''
import os, subprocess, sys

PIDS = os.environ["FAULTS_PIDFILE"]

def note(pid):
    with open(PIDS, "a") as fh:
        fh.write(f"{{pid}}\\n")

def test_leaves_children_behind():
    how = "{how}"
    if how == "plain":
        note(subprocess.Popen(["sleep", "300"]).pid)
    elif how == "setsid":
        note(subprocess.Popen(["sleep", "300"], start_new_session=True).pid)
    elif how == "daemon":
        # Double fork, new session, empty environment: found only as an adopted orphan.
        subprocess.run(["setsid", "sh", "-c", f"sleep 300 & echo $! >> {{PIDS}}"], env={{}},
                       check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    print("FAULTS-CHILD-STARTED", flush=True)
'''

HANG_LIMIT = 60.0
"""The children sleep 300 s: a run that waited for them would take that long."""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("capture", ["-s", "captured"])
@pytest.mark.parametrize("how", ["plain", "setsid", "daemon"])
def test_a_leftover_child_neither_hangs_the_run_nor_survives_it(
        tmp_path: Path, capture: str, how: str) -> None:
    co = make_checkout(tmp_path, LEAVES_CHILDREN.format(how=how))
    pidfile = tmp_path / "pids"
    args = ["--", "-s"] if capture == "-s" else []
    run = Run(co, "local", *args, env=base_env(FAULTS_PIDFILE=str(pidfile)))
    code = run.finish(timeout=HANG_LIMIT)
    out = run.output
    assert code == 0, out
    assert time.monotonic() - run.started < HANG_LIMIT
    pids = [int(line) for line in pidfile.read_text().split()]
    assert pids, "the test did not start its child"
    assert settle(lambda: [str(p) for p in pids if alive(p)], timeout=5) == [], out
    assert "the suite left" in out and "process(es) running" in out, out
    assert os.getpid() not in pids


HANGS = '''
import time

def test_hangs():
    print("FAULTS-TEST-STARTED", flush=True)
    time.sleep(300)
'''


def test_the_suite_of_a_sigkilled_run_is_stopped_by_the_next_runs_sweep(
        tmp_path: Path, backend: tuple[str, object]) -> None:  # noqa: F811
    # pytest runs in a session of its own, so it outlives its SIGKILLed runner and would
    # keep running its tests until their timeout.
    name, _cli = backend
    co = make_checkout(tmp_path, HANGS, timeout=300)
    killed = Run(co, name, "--", "-s")
    dead = killed.run_id
    killed.wait_for(r"FAULTS-TEST-STARTED")
    killed.signal(signal.SIGKILL, group=True)
    killed.finish()
    assert any("pytest" in p for p in processes_of({dead})), "pytest outlived its runner"
    co.write_test("def test_ok():\n    pass\n")
    sweeper = Run(co, name)
    assert sweeper.finish() == 0, sweeper.output
    swept = [line for line in sweeper.output.splitlines() if "removed process" in line]
    assert any(dead in line and "pytest" in line for line in swept), sweeper.output
    assert settle(lambda: [p for p in processes_of({dead}) if "pytest" in p]) == []
