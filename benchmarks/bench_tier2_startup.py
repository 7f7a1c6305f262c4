"""What nox adds before Tier 3 on a warm machine, with and without a PEP 723 block.

    python benchmarks/bench_tier2_startup.py [-n 7]

Setting, as the README has it: a virtualenv holding only ``pip install nox``
(made once under ``.nox/_bench_nox_only``, reused). Two noxfiles are timed
with that nox, in interleaved pairs so machine load hits both alike:

- *baseline*: the noxfile with the PEP 723 block it used to carry
  (``dependencies = ["nox", "python-dotenv", "boto3"]``). nox finds those
  packages missing beside itself, so every call installs them into its script
  venv and re-executes itself there;
- *now*: the committed noxfile, which needs nothing beyond nox.

Each call is ``nox -s integration-<service> -- --help`` (CI unset, so no
Parameter Store call; the session's venv already installed, so pip is
skipped): Tier 2 runs fully, then Tier 3 prints its help. Tier 3 alone (the
same ``--help`` with the session venv's python) is timed too; "before Tier 3"
is a median call minus Tier 3's median, in wall seconds and in CPU seconds
(user + system of the whole process tree: on a shared, loaded machine the
wall figure swings with other work, the CPU one much less).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICE = "agent_executor"
BENCH_VENV = ROOT / ".nox" / "_bench_nox_only"
BASELINE_NOXFILE = ROOT / "noxfile_bench_pep723.py"
PEP723 = ('# /// script\n# dependencies = ["nox>=2025.2.9", "python-dotenv>=1.0", '
          '"boto3>=1.34"]\n# ///\n')


def nox_only_venv() -> Path:
    """A venv with nothing but nox (the README's `pip install nox`)."""
    nox = BENCH_VENV / "bin" / "nox"
    if not nox.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run([str(BENCH_VENV / "bin" / "pip"), "install", "-q", "nox"], check=True)
    return nox


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], env: dict[str, str], cpu: list[float] | None = None) -> float:
    """Wall seconds of ``cmd``; its CPU seconds (user + system, children included)
    are appended to ``cpu``: the figure machine load disturbs least."""
    started, cpu_before = time.perf_counter(), _cpu()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if cpu is not None:
        cpu.append(_cpu() - cpu_before)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {done.returncode}:\n"
                         f"{(done.stdout + done.stderr)[-3000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=7, help="interleaved pairs (default 7)")
    args = parser.parse_args()
    nox = str(nox_only_venv())
    env = {k: v for k, v in os.environ.items()
           if k not in ("CI", "NOX_SCRIPT_MODE", "VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join([str(BENCH_VENV / "bin"), env.get("PATH", "")])
    BASELINE_NOXFILE.write_text(PEP723 + (ROOT / "noxfile.py").read_text())
    session = ["-s", f"integration-{SERVICE}", "--", "--help"]
    tier3 = [str(ROOT / ".nox" / f"integration-{SERVICE}" / "bin" / "python"),
             f"services/{SERVICE}/ci/tier3.py", "--help"]
    try:
        # Warm-up: builds the session venv and the baseline's script venv once.
        timed([nox, "-f", str(ROOT / "noxfile.py"), *session], env)
        timed([nox, "-f", str(BASELINE_NOXFILE), *session], env)
        wall: dict[str, list[float]] = {"base": [], "now": [], "alone": []}
        cpu: dict[str, list[float]] = {"base": [], "now": [], "alone": []}
        for _ in range(args.n):
            wall["base"].append(timed([nox, "-f", str(BASELINE_NOXFILE), *session], env,
                                      cpu["base"]))
            wall["now"].append(timed([nox, "-f", str(ROOT / "noxfile.py"), *session], env,
                                     cpu["now"]))
            wall["alone"].append(timed(tier3, env, cpu["alone"]))
    finally:
        BASELINE_NOXFILE.unlink(missing_ok=True)
    med = {k: statistics.median(v) for k, v in wall.items()}
    cmed = {k: statistics.median(v) for k, v in cpu.items()}
    print(f"median of {args.n} interleaved runs, seconds "
          f"(Tier 3 --help alone: {med['alone']:.2f} wall, {cmed['alone']:.2f} CPU)")
    print(f"{'noxfile':<36} {'call wall':>9} {'before T3 wall':>14} {'before T3 CPU':>14}")
    for key, name in (("base", "baseline (PEP 723 block, re-exec)"),
                      ("now", "now (nothing beyond nox)")):
        print(f"{name:<36} {med[key]:>9.2f} {med[key] - med['alone']:>14.2f} "
              f"{cmed[key] - cmed['alone']:>14.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
