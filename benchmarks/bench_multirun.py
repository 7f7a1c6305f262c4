"""Wall time of `nox -s integration -- --jobs 2` against the same services one after another.

    python benchmarks/bench_multirun.py [-n PAIRS] [--backend compose|local]
    python benchmarks/bench_multirun.py --footprint [--backend compose|local]

The baseline is the same session with ``--jobs 1``: every service's full
``nox -s integration-<svc>`` in turn, which is what the aggregate session did
before it ran services side by side. Runs are interleaved (sequential,
parallel, sequential, ...) so load from elsewhere on the machine falls on both
sides; the script prints each pair's ratio (parallel / sequential) and the
median. Session venvs should exist first (one warm-up run of each service).

``--footprint`` runs each service once and samples, every 0.2 s, the
proportional set size (PSS) of every process its session started (walking
/proc by parent pid)
plus its containers' memory from their cgroup (``total_rss`` + ``total_shmem``); it prints each
service's peak, the figure ci/tier2/capacity.py's FOOTPRINT_MB holds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOX = [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py")]


def timed(cmd: list[str]) -> tuple[float, int]:
    start = time.monotonic()
    code = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          check=False).returncode
    return time.monotonic() - start, code


def compare(pairs: int, backend: str) -> None:
    base = [*NOX, "-s", "integration", "--", "--backend", backend]
    ratios: list[float] = []
    print(f"backend {backend}: nox -s integration -- --backend {backend} --jobs 1 (baseline) "
          "vs --jobs 2")
    for i in range(pairs):
        seq, seq_code = timed([*base, "--jobs", "1"])
        par, par_code = timed([*base, "--jobs", "2"])
        if seq_code or par_code:
            print(f"pair {i + 1}: a run failed (sequential exit {seq_code}, parallel exit "
                  f"{par_code}); not counted")
            continue
        ratios.append(par / seq)
        print(f"pair {i + 1}: sequential {seq:6.1f}s  parallel {par:6.1f}s  "
              f"ratio {par / seq:.2f}", flush=True)
    if ratios:
        print(f"median ratio (parallel / sequential) over {len(ratios)} pair(s): "
              f"{statistics.median(ratios):.2f}")


# -- footprint ---------------------------------------------------------------------
def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _pss_kb(pid: int) -> int:
    """Proportional set size: shared pages (PostgreSQL's shared buffers, libraries)
    are split between the processes sharing them instead of counted in each."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def tree_pss_mb(root: int) -> float:
    tree, total, todo = _children(), 0, [root]
    while todo:
        pid = todo.pop()
        total += _pss_kb(pid)
        todo += tree.get(pid, [])
    return total / 1024


def container_mb(service: str) -> float:
    ids = subprocess.run(["docker", "ps", "-q", "--no-trunc",
                          "--filter", f"label=io.tiers.service={service}",
                          "--filter", f"label=io.tiers.checkout={ROOT}"],
                         capture_output=True, text=True, check=False).stdout.split()
    total = 0
    for cid in ids:
        for stat in (Path(f"/sys/fs/cgroup/memory/docker/{cid}/memory.stat"),
                     Path(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/memory.stat")):
            if stat.exists():
                fields = dict(line.split() for line in stat.read_text().splitlines())
                # Anonymous memory plus shared memory (PostgreSQL's shared buffers).
                total += int(fields.get("total_rss", fields.get("anon", "0")))
                total += int(fields.get("total_shmem", fields.get("shmem", "0")))
                break
    return total / 2**20


def _poll_containers(service: str, stop: threading.Event, box: list[float]) -> None:
    while not stop.is_set():
        box[0] = container_mb(service)
        stop.wait(1.0)


def measure(service: str, backend: str) -> tuple[int, float, float]:
    """``(exit code, processes MiB, containers MiB)`` at the run's peak."""
    proc = subprocess.Popen([*NOX, "-s", f"integration-{service}", "--", "--backend",
                             backend], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    peak = (0.0, 0.0)
    box = [0.0]
    stop = threading.Event()
    watcher = threading.Thread(target=_poll_containers, args=(service, stop, box), daemon=True)
    watcher.start()
    while proc.poll() is None:
        procs = tree_pss_mb(proc.pid)
        if procs + box[0] > sum(peak):
            peak = (procs, box[0])
        time.sleep(0.2)
    stop.set()
    watcher.join()
    return proc.returncode, peak[0], peak[1]


def footprint(backend: str, services: list[str]) -> None:
    for service in services:
        code, procs, containers = measure(service, backend)
        print(f"{service} ({backend}, exit {code}): peak {procs + containers:.0f} MiB "
              f"(processes {procs:.0f} MiB, containers {containers:.0f} MiB)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--pairs", type=int, default=3)
    parser.add_argument("--backend", default="compose", choices=["compose", "local"])
    parser.add_argument("--footprint", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("NOX_SCRIPT_MODE", "none")
    if args.footprint:
        services = sorted(p.parent.parent.name for p in ROOT.glob("services/*/ci/tier3.py"))
        footprint(args.backend, services)
    else:
        compare(args.pairs, args.backend)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
