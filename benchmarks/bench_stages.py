"""Median seconds per stage: the framework (compose and local backends) next to
the plain shell script that does what seed 004 does (``compare_shell.sh``).

    python benchmarks/bench_stages.py --vs-shell -n 5          # the figure issue 10 is judged by
    python benchmarks/bench_stages.py --vs-shell -n 5 --backend local
    python benchmarks/bench_stages.py [-n 3] [--only compose,local,shell]
    python benchmarks/bench_stages.py --vs-shell -n 5 --no-bytecode   # PYTHONDONTWRITEBYTECODE=1

``--vs-shell`` runs the framework and the script interleaved (A B A B ...), so
a machine that gets busier or quieter during the benchmark affects both sides
alike, and prints the ratio framework/script of every pair and their median.
Targets on a 2-core machine (docs/performance.md): compose <= 0.7x the script,
local <= 0.4x.

Without ``--vs-shell`` each variant runs N times in turn (never in parallel, so
they do not slow each other down). Either way the table shows the median of
each stage and of the whole wall-clock run. Runs that fail are reported and
left out of the medians and ratios.
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
sys.path.insert(0, str(ROOT))

from ci.service import STAGES  # noqa: E402  (after the path: the checkout's `ci`)

RUNNER = ROOT / "services" / "agent_executor" / "ci" / "tier3.py"
SCRIPT = ROOT / "benchmarks" / "compare_shell.sh"


def run_framework(backend: str) -> tuple[dict[str, float], int]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        # The result cache off: every run does the work, instead of the second
        # being a cached pass. The migrated-database cache (compose) and the
        # template cluster (local) stay on, as on any machine after its first run.
        env = {**os.environ, "TIERS_BACKEND": backend, "TIERS_RESULT_CACHE": "off"}
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


Times = dict[str, float]


def run_variant(variant: str) -> tuple[Times, int]:
    return run_shell() if variant == "shell" else run_framework(variant)


def median_of(runs: list[Times], stage: str) -> float | None:
    values = [r[stage] for r in runs if stage in r]
    return statistics.median(values) if values else None


def print_table(results: dict[str, list[Times]]) -> None:
    for runs in results.values():
        for r in runs:
            r["up+wait"] = r.get("up", 0.0) + r.get("wait", 0.0)
    variants = list(results)
    print()
    print("median seconds".ljust(16) + "".join(f"{v:>10}" for v in variants))
    for stage in [*STAGES, "up+wait", "total"]:
        cells = []
        for variant in variants:
            value = median_of(results[variant], stage)
            cells.append(f"{value:10.2f}" if value is not None else f"{'-':>10}")
        print(stage.ljust(16) + "".join(cells))


def _exit(code: int) -> str:
    return "" if code == 0 else f" (exit {code})"


def vs_shell(backend: str, n: int) -> int:
    """Interleaved pairs: framework then script, n times; ratio per pair and median."""
    results: dict[str, list[Times]] = {backend: [], "shell": []}
    ratios: list[float] = []
    for i in range(n):
        ours, our_code = run_variant(backend)
        theirs, their_code = run_variant("shell")
        line = (f"pair {i + 1}/{n}: {backend} {ours['total']:6.2f}s{_exit(our_code)}  "
                f"shell {theirs['total']:6.2f}s{_exit(their_code)}")
        if our_code == 0 and their_code == 0:
            ratio = ours["total"] / theirs["total"]
            ratios.append(ratio)
            results[backend].append(ours)
            results["shell"].append(theirs)
            line += f"  ratio {ratio:.2f}"
        else:
            line += "  (left out)"
        print(line, flush=True)
    print_table(results)
    if not ratios:
        print("\nno pair where both sides passed: no ratio")
        return 1
    print(f"\nratio {backend}/shell per pair: {' '.join(f'{r:.2f}' for r in ratios)}")
    print(f"median ratio {backend}/shell: {statistics.median(ratios):.2f} "
          f"({len(ratios)} of {n} pairs; below 1 means the framework is faster)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3, help="runs per variant (default 3)")
    parser.add_argument("--vs-shell", action="store_true",
                        help="interleave the framework with the shell script and print ratios")
    parser.add_argument("--backend", default="compose", choices=("compose", "local"),
                        help="the framework's backend for --vs-shell (default compose)")
    parser.add_argument("--only", default="compose,local,shell",
                        help="comma-separated variants: compose, local, shell")
    parser.add_argument("--no-bytecode", action="store_true",
                        help="run both sides with PYTHONDONTWRITEBYTECODE=1 (as some "
                        "container images do) instead of Python's default")
    args = parser.parse_args(argv)
    # Both sides run alike: by default as on a developer's machine or a GitHub
    # runner, where Python caches bytecode (and pytest its rewritten test
    # modules); with --no-bytecode, every run of either side compiles afresh.
    if args.no_bytecode:
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
        print("note: PYTHONDONTWRITEBYTECODE=1 for both sides")
    elif os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None:
        print("note: PYTHONDONTWRITEBYTECODE unset for both sides (Python's default)")
    if args.vs_shell:
        return vs_shell(args.backend, args.n)
    variants = [v.strip() for v in args.only.split(",") if v.strip()]
    results: dict[str, list[Times]] = {v: [] for v in variants}
    for i in range(args.n):
        for variant in variants:
            times, code = run_variant(variant)
            status = "ok" if code == 0 else f"exit {code} (left out)"
            print(f"run {i + 1}/{args.n} {variant:<8} {times['total']:6.2f}s  {status}",
                  flush=True)
            if code == 0:
                results[variant].append(times)
    print_table(results)
    ours = median_of(results["compose"], "total") if "compose" in results else None
    script = median_of(results["shell"], "total") if "shell" in results else None
    if ours is not None and script is not None:
        diff = script - ours
        word = "faster" if diff >= 0 else "slower"
        print(f"\nframework (compose) is {abs(diff):.2f}s ({abs(diff) / script:.0%}) {word} "
              f"than the shell script per run (median of {args.n}); "
              f"setup (up+wait+migrate): {_setup(results['compose']):.2f}s vs "
              f"{_setup(results['shell']):.2f}s")
    return 0


def _setup(runs: list[Times]) -> float:
    values = [sum(r.get(s, 0.0) for s in ("up", "wait", "migrate")) for r in runs]
    return statistics.median(values) if values else float("nan")


if __name__ == "__main__":
    raise SystemExit(main())
