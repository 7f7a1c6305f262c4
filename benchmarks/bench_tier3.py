"""Run a service's Tier 3 N times and print the median seconds of each stage.

    python benchmarks/bench_tier3.py --service agent_executor --backend local -n 10

Reads the stage timings from each run's run.json, so it measures exactly what
users see on the stage lines. Target for the local backend on a 2-core
machine: up + wait under 2 s median.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("up", "wait", "migrate", "test", "collect", "down")


def run_once(service: str, backend: str, base: Path) -> dict[str, float]:
    runner = ROOT / "services" / service / "ci" / "tier3.py"
    before = set(base.glob(f"integration/{service}/*"))
    result = subprocess.run(
        [sys.executable, str(runner), "--backend", backend, "--artifacts", str(base)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    [new] = set(base.glob(f"integration/{service}/*")) - before
    run = json.loads((new / "run.json").read_text())
    if result.returncode != 0:
        sys.exit(f"run failed with exit {result.returncode}:\n{result.stdout[-3000:]}")
    return {s["name"]: s["seconds"] for s in run["stages"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", default="agent_executor")
    parser.add_argument("--backend", default="local")
    parser.add_argument("-n", type=int, default=10)
    args = parser.parse_args()
    samples: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="tiers-bench-") as tmp:
        for i in range(args.n):
            samples.append(run_once(args.service, args.backend, Path(tmp)))
            print(f"run {i + 1}/{args.n}: " + " ".join(
                f"{k}={v:.2f}" for k, v in samples[-1].items()), file=sys.stderr)
    print(f"{args.service} on {args.backend}: median seconds over {args.n} runs")
    for stage in STAGES:
        values = [s[stage] for s in samples if stage in s]
        if values:
            print(f"  {stage:<8} {statistics.median(values):7.3f}")
    up_wait = [s.get("up", 0) + s.get("wait", 0) for s in samples]
    total = [sum(s.values()) for s in samples]
    print(f"  {'up+wait':<8} {statistics.median(up_wait):7.3f}")
    print(f"  {'total':<8} {statistics.median(total):7.3f}")


if __name__ == "__main__":
    main()
