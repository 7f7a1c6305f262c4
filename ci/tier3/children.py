"""Processes a suite leaves behind, found and stopped after pytest exits.

A test may start a worker and never stop it; a worker may daemonise (its
parent becomes pid 1) or hold pytest's output pipe open. Three nets catch
them, because each alone has a hole:

- pytest runs in its own process group: one ``killpg`` stops what stayed in it;
- Tier 3 is a child subreaper (Linux ``PR_SET_CHILD_SUBREAPER``): an orphaned
  descendant is re-parented to us rather than to pid 1, so it is still ours to
  find, even after ``setsid``;
- pytest's environment carries :data:`ENV_SUITE_OF`; a descendant that kept
  its environment is found by it in ``/proc``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ci import keep
from ci.backends.local.processes import read_environ
from ci.runinfo import ENV_CHECKOUT, ENV_OWNER, RunInfo, owner_alive

ENV_SUITE_OF = "TIERS_SUITE_OF"
"""Set in pytest's environment to the run id: marks the suite's descendants."""
_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux only); returns whether it worked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _ppid_and_cmd(pid: int) -> tuple[int, str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    head, _, rest = stat.rpartition(")")
    fields = rest.split()
    if not fields or fields[0] == "Z":
        return None
    return int(fields[1]), head.partition("(")[2]


def my_children() -> set[int]:
    me = os.getpid()
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = _ppid_and_cmd(int(entry.name))
            if info is not None and info[0] == me:
                found.add(int(entry.name))
    return found


def _tagged(run_id: str) -> set[int]:
    found: set[int] = set()
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if (entry.name.isdigit() and int(entry.name) != me
                and read_environ(int(entry.name)).get(ENV_SUITE_OF) == run_id):
            found.add(int(entry.name))
    return found


@dataclass(frozen=True)
class Leftover:
    pid: int
    command: str


def stop_leftovers(pytest_pgid: int, run_id: str, keep: Iterable[int]) -> list[Leftover]:
    """SIGKILL whatever the suite left running; returns what was found.

    ``keep`` are our own children that are not the suite's (local servers).
    """
    # Listed before the group is killed: a killed process is a zombie with no
    # command line, and what was stopped silently would not be reported.
    suspects = (my_children() - set(keep)) | _tagged(run_id)
    found: list[Leftover] = []
    for pid in sorted(suspects):
        info = _ppid_and_cmd(pid)
        if info is not None:
            found.append(Leftover(pid, info[1]))
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pytest_pgid, signal.SIGKILL)
    for pid in (x.pid for x in found):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    reap(p.pid for p in found)
    return found


def reap(pids: Iterable[int], timeout: float = 2.0) -> None:
    """Collect killed children (adopted orphans included) so none stays a zombie.

    Only the given pids: a blanket ``waitpid(-1)`` would also reap a server
    whose exit status the backend still needs to report.
    """
    deadline = time.monotonic() + timeout
    pending = set(pids)
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            try:
                done, _status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # not our child (found by its tag): init reaps it
                pending.discard(pid)
                continue
            if done:
                pending.discard(pid)
        if pending:
            time.sleep(0.02)


def sweep_orphaned_suites(run: RunInfo) -> list[str]:
    """Stop suites of this checkout's runs whose Tier 3 was SIGKILLed; one line per process.

    pytest runs in a session of its own, so it outlives a SIGKILLed runner and
    keeps running its tests until their timeout. It carries its run's identity
    (:data:`ENV_SUITE_OF` and the owner's pid and start time), which is how
    the next run of any backend finds it. Servers never carry ``ENV_SUITE_OF``.
    """
    removed: list[str] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        env = read_environ(int(entry.name))
        run_id, owner = env.get(ENV_SUITE_OF), env.get(ENV_OWNER)
        if (not run_id or not owner or run_id == run.id
                or env.get(ENV_CHECKOUT) != str(run.checkout) or owner_alive(owner)
                or keep.is_kept(run.checkout, run_id)):
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace").strip()
        except OSError:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(int(entry.name), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(int(entry.name), signal.SIGKILL)
        removed.append(f"process {entry.name} of the suite of run {run_id}: {command[:80]}")
    return removed
