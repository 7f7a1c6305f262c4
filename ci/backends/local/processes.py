"""Child server processes that carry the run's identity, and the sweep that finds them.

Each server runs in its own session (process group): a Ctrl-C in the terminal
reaches the runner, which then stops servers in order, instead of every server
dying mid-write at once. The run id, owner and checkout are in each process's
environment, which is how a later run recognises what a SIGKILLed run left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ci.runinfo import ENV_CHECKOUT, ENV_OWNER, ENV_RUN_ID, process_start_ticks


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    stop_signal: int = signal.SIGTERM

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exited(self) -> int | None:
        return self.popen.poll()


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str],
    cwd: Path | None = None,
    user: str | None = None,
    stop_signal: int = signal.SIGTERM,
) -> Child:
    with open(log, "ab") as out:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            user=user,
        )
    return Child(name, popen, log, stop_signal)


def stop_all(children: Sequence[Child], grace: float = 5.0) -> None:
    """Stop every child at once: each gets its stop signal, then all are awaited.

    Servers shut down side by side, so teardown takes as long as the slowest,
    not the sum. Whatever is still running after ``grace`` seconds is killed.
    """
    for child in children:
        if child.exited() is None:
            _signal_group(child.pid, child.stop_signal)
    deadline = time.monotonic() + grace
    for child in children:
        try:
            child.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(child.pid, signal.SIGKILL)
            child.popen.wait(timeout=grace)
    for child in children:
        # The leader may be gone while helpers of its group (postgres backends) linger.
        _signal_group(child.pid, signal.SIGKILL)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def read_environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            env[key.decode(errors="replace")] = value.decode(errors="replace")
    return env


@dataclass(frozen=True)
class Tagged:
    pid: int
    run_id: str
    owner: str
    checkout: str
    command: str


def tagged_processes() -> list[Tagged]:
    """Every process visible to us whose environment carries a run id."""
    found: list[Tagged] = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        env = read_environ(int(entry.name))
        if ENV_RUN_ID not in env:
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        found.append(Tagged(int(entry.name), env[ENV_RUN_ID], env.get(ENV_OWNER, ""),
                            env.get(ENV_CHECKOUT, ""), command))
    return found


def kill_all(pids: Sequence[int], grace: float = 3.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def kill_tracked(pid: int, start: str) -> bool:
    """SIGKILL ``pid``'s process group if ``pid`` is still the process started then.

    The start time (clock ticks since boot) tells a reused pid from ours.
    Returns whether something was killed.
    """
    if not start or process_start_ticks(pid) != start:
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
