"""Processes a suite leaves behind are found (by group, by parent, by tag) and stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from ci.tier3.children import ENV_SUITE_OF, my_children, reap, stop_leftovers


def alive(pid: int) -> bool:
    """Running and not a zombie (pid 1 of a container may never reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_for_file(path: Path) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.01)
    raise AssertionError(f"{path} never written")


def test_a_child_in_the_suites_group_is_stopped() -> None:
    before = my_children()
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    found = stop_leftovers(proc.pid, "no-such-run", keep=before)
    assert [x.pid for x in found] == [proc.pid] and "sleep" in found[0].command
    assert not alive(proc.pid)
    assert proc.pid not in my_children()


def test_a_setsid_grandchild_is_found_by_its_tag(tmp_path: Path) -> None:
    run_id = uuid.uuid4().hex[:8]
    pidfile = tmp_path / "pid"
    # The shell exits at once: the grandchild, in a session of its own, is orphaned.
    script = f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 60' </dev/null >/dev/null 2>&1 &"
    subprocess.run(["sh", "-c", script], env={**os.environ, ENV_SUITE_OF: run_id}, check=True)
    pid = int(wait_for_file(pidfile))
    assert alive(pid)
    before = my_children()
    found = stop_leftovers(os.getpid() + 10**7, run_id, keep=before)  # no such group
    assert pid in [x.pid for x in found]
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(pid)


def test_another_runs_processes_are_left_alone(tmp_path: Path) -> None:
    other = subprocess.Popen(["sleep", "60"], env={**os.environ, ENV_SUITE_OF: "other-run"},
                             start_new_session=True)
    try:
        found = stop_leftovers(os.getpid() + 10**7, "this-run", keep=my_children())
        assert other.pid not in [x.pid for x in found] and alive(other.pid)
    finally:
        other.kill()
        other.wait()


def test_reap_collects_killed_children_only() -> None:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    busy = subprocess.Popen(["sleep", "60"])
    try:
        time.sleep(0.2)
        reap([done.pid], timeout=2)
        assert not Path(f"/proc/{done.pid}").exists()
        assert alive(busy.pid)
    finally:
        busy.kill()
        busy.wait()
