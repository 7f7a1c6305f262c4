"""Median seconds per stage: the framework (compose and local backends) next to
the plain shell script that does what seed 004 does (``compare_shell.sh``).

    python benchmarks/bench_stages.py [-n 3] [--only compose,local,shell]
    python benchmarks/bench_stages.py -n 10 --only local     # the local-backend target

Targets on a 2-core machine: up + wait under 2 s median on the local backend;
the compose backend no slower than the shell script.

Each variant runs N times, one after another (never in parallel, so they do not
slow each other down); the table shows the median of each stage and of the
whole wall-clock run, then how much faster or slower the framework's compose
run is than the script. Runs that fail are reported and left out of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "services" / "agent_executor" / "ci" / "tier3.py"
SCRIPT = ROOT / "benchmarks" / "compare_shell.sh"
STAGES = ("up", "wait", "migrate", "test", "collect", "down")


def run_framework(backend: str) -> tuple[dict[str, float], int]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        env = {**os.environ, "TIERS_BACKEND": backend}
        env.pop("CI", None)
        started = time.monotonic()
        proc = subprocess.run([sys.executable, str(RUNNER), "--artifacts", tmp], env=env,
                              cwd=ROOT, capture_output=True, text=True, check=False)
        total = time.monotonic() - started
        found = sorted(Path(tmp).rglob("run.json"))
        times: dict[str, float] = {"total": total}
        if found:
            for stage in json.loads(found[-1].read_text())["stages"]:
                times[stage["name"]] = float(stage["seconds"])
    return times, proc.returncode


def run_shell() -> tuple[dict[str, float], int]:
    env = {**os.environ, "PYTHON": sys.executable}
    started = time.monotonic()
    proc = subprocess.run(["bash", str(SCRIPT)], env=env, cwd=ROOT, capture_output=True,
                          text=True, check=False)
    times: dict[str, float] = {"total": time.monotonic() - started}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "stage":
            times[parts[1]] = float(parts[2])
    return times, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3, help="runs per variant (default 3)")
    parser.add_argument("--only", default="compose,local,shell",
                        help="comma-separated variants: compose, local, shell")
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.only.split(",") if v.strip()]
    results: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    for i in range(args.n):
        for variant in variants:
            times, code = run_shell() if variant == "shell" else run_framework(variant)
            status = "ok" if code == 0 else f"exit {code} (left out)"
            print(f"run {i + 1}/{args.n} {variant:<8} {times['total']:6.2f}s  {status}",
                  flush=True)
            if code == 0:
                results[variant].append(times)

    def median(variant: str, stage: str) -> float | None:
        values = [r[stage] for r in results[variant] if stage in r]
        return statistics.median(values) if values else None

    for runs in results.values():
        for r in runs:
            r["up+wait"] = r.get("up", 0.0) + r.get("wait", 0.0)
    rows = [*STAGES, "up+wait", "total"]
    print()
    print("median seconds".ljust(16) + "".join(f"{v:>10}" for v in variants))
    for stage in rows:
        cells = []
        for variant in variants:
            value = median(variant, stage)
            cells.append(f"{value:10.2f}" if value is not None else f"{'-':>10}")
        print(stage.ljust(16) + "".join(cells))
    ours = median("compose", "total") if "compose" in results else None
    script = median("shell", "total") if "shell" in results else None
    if ours is not None and script is not None:
        diff = script - ours
        word = "faster" if diff >= 0 else "slower"
        print(f"\nframework (compose) is {abs(diff):.2f}s ({abs(diff) / script:.0%}) {word} "
              f"than the shell script per run (median of {args.n}); "
              f"setup (up+wait+migrate): {_setup(results['compose']):.2f}s vs "
              f"{_setup(results['shell']):.2f}s")
    return 0


def _setup(runs: list[dict[str, float]]) -> float:
    values = [sum(r.get(s, 0.0) for s in ("up", "wait", "migrate")) for r in runs]
    return statistics.median(values) if values else float("nan")


if __name__ == "__main__":
    raise SystemExit(main())
