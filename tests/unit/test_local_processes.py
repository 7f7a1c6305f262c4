"""Stopping local servers, noticing pytest's exit, and Tier 3's own exit."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from ci.backends.local.processes import Child, spawn, stop_all
from ci.tier3.suite import _ExitNotice

# Exits 1 s after SIGTERM, like a server finishing a graceful shutdown.
SLOW_STOP = "trap 'sleep 1; exit 0' TERM; while :; do sleep 0.05; done"


def _child(tmp_path: Path, name: str, script: str) -> Child:
    return spawn(name, ["bash", "-c", script], log=tmp_path / f"{name}.log", env={})


def test_servers_are_stopped_side_by_side(tmp_path: Path) -> None:
    children = [_child(tmp_path, f"slow{i}", SLOW_STOP) for i in range(3)]
    time.sleep(0.2)  # the traps are set
    started = time.monotonic()
    stop_all(children)
    took = time.monotonic() - started
    assert all(c.exited() is not None for c in children)
    # Side by side about 1 s, one after another 3 s: the margin is for a busy machine.
    assert took < 2.0, f"three 1 s shutdowns took {took:.2f}s: one after another?"


def test_a_server_ignoring_its_stop_signal_is_killed_after_the_grace(tmp_path: Path) -> None:
    stubborn = _child(tmp_path, "stubborn", "trap '' TERM; while :; do sleep 0.05; done")
    quick = _child(tmp_path, "quick", "while :; do sleep 0.05; done")
    time.sleep(0.2)
    started = time.monotonic()
    stop_all([stubborn, quick], grace=0.5)
    assert stubborn.popen.returncode == -signal.SIGKILL
    assert quick.exited() is not None
    assert time.monotonic() - started < 2.0


def test_exit_notice_returns_the_code_as_the_process_ends() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3); exit(7)"])
    notice = _ExitNotice(proc)
    try:
        assert notice.within(0.01) is None
        started = time.monotonic()
        code = None
        while code is None:
            code = notice.within(5.0)
        assert code == 7
        assert time.monotonic() - started < 2.0
    finally:
        notice.close()
        proc.kill()
        proc.wait()


EXITS = """
import atexit, pathlib, sys, threading, time
from ci.tier3.cli import exit_now
out = pathlib.Path(sys.argv[1])
atexit.register(lambda: (out / "atexit").write_text("ran"))
def late():
    time.sleep(0.3)
    (out / "thread").write_text("finished")
threading.Thread(target=late).start()
from concurrent.futures import ThreadPoolExecutor
pool = ThreadPoolExecutor(max_workers=1)  # left open, as a hook might
pool.submit(lambda: None)
print("flushed?", end="")
exit_now(5)
"""


def test_exit_now_joins_threads_runs_atexit_and_keeps_the_code(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", EXITS, str(tmp_path)], cwd=root,
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 5, proc.stderr
    assert proc.stdout == "flushed?"
    assert (tmp_path / "thread").read_text() == "finished"
    assert (tmp_path / "atexit").read_text() == "ran"
