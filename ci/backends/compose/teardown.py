"""Removing one run's project through the Docker SDK, fast, and proving it is gone.

Test containers hold nothing worth a graceful stop: the run's results are
already written when ``down`` runs. So every container of the run is killed
and removed with its anonymous volumes in one API call each, all at once, then
the networks and named volumes go; a container whose PID 1 is a shell (which
ignores SIGTERM) no longer costs Docker's 10 s stop timeout. Afterwards the
labels are listed again: anything still there is reported, and the caller
falls back to ``compose down``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ci.backends.compose import sweep
from ci.backends.compose.cli import PROJECT_LABEL

SLOW_SECONDS = 2.0
"""A container that takes longer than this to remove is named, with its PID 1."""


@dataclass
class Removal:
    removed: list[str] = field(default_factory=list)
    slow: list[str] = field(default_factory=list)
    """Why a container was slow to go, one line each."""


def _remove_one(cli: Any, entry: dict[str, Any]) -> tuple[str, float, bool]:
    started = time.monotonic()
    done = sweep.remove_container(cli, entry)
    return sweep.container_name(entry), time.monotonic() - started, done


def slow_reason(entry: dict[str, Any], seconds: float) -> str:
    command = str(entry.get("Command") or "?")
    line = f"container {sweep.container_name(entry)} took {seconds:.1f}s to remove"
    first = command.split()[0] if command.split() else ""
    if first.rsplit("/", 1)[-1] in ("sh", "bash", "ash", "dash"):
        return (f"{line}: its PID 1 is a shell (`{command[:80]}`), which ignores SIGTERM; "
                "use `exec` in its command so the server gets the signal")
    return f"{line} (PID 1: `{command[:80]}`); the daemon may be busy"


def remove_run(cli: Any, project: str, run_id: str) -> Removal:
    """Kill and remove the run's containers in parallel, then its networks and volumes."""
    selector = [f"{PROJECT_LABEL}={project}", f"{sweep.RUN_LABEL}={run_id}"]
    result = Removal()
    containers = sweep.list_containers(cli, selector)
    if containers:
        with ThreadPoolExecutor(max_workers=len(containers),
                                thread_name_prefix="compose-rm") as pool:
            outcomes = list(pool.map(lambda e: _remove_one(cli, e), containers))
        for entry, (name, seconds, done) in zip(containers, outcomes, strict=True):
            if done:
                result.removed.append(f"container {name}")
            if seconds > SLOW_SECONDS:
                result.slow.append(slow_reason(entry, seconds))
    for network in sweep.list_networks(cli, [f"{sweep.RUN_LABEL}={run_id}"]):
        if sweep.remove_network(cli, network):
            result.removed.append(f"network {network.get('Name')}")
    for volume in sweep.list_volumes(cli, [f"{sweep.RUN_LABEL}={run_id}"]):
        if sweep.remove_volume(cli, volume):
            result.removed.append(f"volume {volume.get('Name')}")
    return result
