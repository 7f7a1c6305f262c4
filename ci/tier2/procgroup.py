"""Process groups: one per service session, so a signal reaches all of it and nothing else.

Membership is read from ``/proc`` (the ``pgrp`` field of each process's
``stat``), and zombies do not count: in a container whose PID 1 does not reap,
an exited orphan would otherwise look alive for ever.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def group_members(pgid: int, proc_root: Path = Path("/proc")) -> list[int]:
    """Live (not zombie) processes in process group ``pgid``."""
    members: list[int] = []
    for entry in proc_root.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def wait_group_gone(pgid: int, seconds: float) -> list[int]:
    """Wait until group ``pgid`` is empty; returns what is still there after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        left = group_members(pgid)
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def terminate_group(pgid: int) -> None:
    """SIGTERM to every process in the group (Tier 2 forwards it to Tier 3, which tears down)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
