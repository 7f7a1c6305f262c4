"""How many services this machine can run side by side, from what it has.

A service's run holds a nox process, Tier 3, pytest with coverage, the
service's own processes and its servers (local processes or containers). Its
peak memory was measured with ``python benchmarks/bench_multirun.py
--footprint`` (the proportional set size of every process the run started,
plus its containers' anonymous and shared memory from their cgroup, sampled
every 0.2 s); :data:`FOOTPRINT_MB` holds the largest peak of the example
services, rounded up to 50 MiB, per backend (docs/multi-service.md has the
figures). The default ``--jobs`` is then the smallest of: the services
selected, the CPUs this process may use, and the memory the kernel reports
available divided by that footprint.
"""

from __future__ import annotations

import os
from pathlib import Path

FOOTPRINT_MB: dict[str, int] = {"local": 200, "compose": 200}
"""Peak memory of one service run, per backend (see the module docstring)."""
DEFAULT_FOOTPRINT_MB = max(FOOTPRINT_MB.values())
"""For ``auto``: the backend is decided by each run, so assume the larger."""
RESERVE_MB = 256
"""Left for everything else on the machine (the nox parent, the shell, the OS)."""


def cpus() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def available_mb(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """``MemAvailable`` in MiB: what can be used without swapping; None if unknown."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def default_jobs(services: int, backend: str = "auto", *, cores: int | None = None,
                 free_mb: int | None = None) -> tuple[int, str]:
    """``(jobs, reason)``: the reason says which resource decided."""
    cores = cpus() if cores is None else cores
    free_mb = available_mb() if free_mb is None else free_mb
    footprint = FOOTPRINT_MB.get(backend, DEFAULT_FOOTPRINT_MB)
    limits = {"services": max(1, services), "cpus": max(1, cores)}
    if free_mb is not None:
        limits["memory"] = max(1, (free_mb - RESERVE_MB) // footprint)
    jobs = min(limits.values())
    decided = min(limits, key=lambda k: limits[k])
    mem = (f"{free_mb} MiB available / {footprint} MiB per service"
           if free_mb is not None else "available memory unknown")
    return jobs, f"default from {decided}: {cores} CPUs, {mem}"
