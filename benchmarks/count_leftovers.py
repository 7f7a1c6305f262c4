"""Run the example on the compose backend N times in a row and count what is left.

    python benchmarks/count_leftovers.py -n 20

After every run it looks for anything carrying that run's id (containers,
networks, named volumes) and its ``tiers-compose-<run>-*`` temporary folder;
at the end it compares the daemon's anonymous (unlabelled, unused) volumes and
its images with a snapshot taken before the first run. A run creates no image
but its migrated-database cache (``tiers-cache/...``, listed apart); a new
untagged image would be a leftover. On a Docker daemon other people use at the
same time, tagged images or volumes they created meanwhile show up too (listed,
not counted); the per-run counts are exact.
Exit 0 when nothing was left behind, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ci.backends.compose import dbcache, sweep  # noqa: E402

RUNNER = ROOT / "services" / "agent_executor" / "ci" / "tier3.py"


def run_once(cli: Any) -> tuple[int, str, list[str]]:
    with tempfile.TemporaryDirectory(prefix="leftovers-") as tmp:
        env = {**os.environ, "TIERS_BACKEND": "compose"}
        env.pop("CI", None)
        proc = subprocess.run([sys.executable, str(RUNNER), "--artifacts", tmp], env=env,
                              cwd=ROOT, capture_output=True, text=True, check=False)
        found = sorted(Path(tmp).rglob("run.json"))
        run_id = ""
        if found:
            run_id = str(json.loads(found[-1].read_text()).get("run_id", ""))
        if not run_id:
            match = re.search(r"run ([0-9a-f]{8}):", proc.stdout)
            run_id = match.group(1) if match else ""
    left = ([f"{x} (run {run_id})" for x in sweep.leftovers(cli, ROOT, run_id)]
            + [f"temporary folder {d}" for d in sweep.temp_dirs(run_id)]) if run_id else [
        "no run id found in the output"]
    return proc.returncode, run_id, left


def dangling_volumes(cli: Any) -> set[str]:
    volumes = (cli.api.volumes(filters={"dangling": True}) or {}).get("Volumes") or []
    return {str(v["Name"]) for v in volumes if not v.get("Labels")}


def images(cli: Any) -> dict[str, Any]:
    return {str(i.id): i for i in cli.images.list(all=False)}


def _names(found: list[Any]) -> str:
    return ", ".join(", ".join(i.tags) or i.short_id for i in found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="runs in a row (default 20)")
    args = parser.parse_args(argv)
    import docker

    cli = docker.from_env()
    volumes_before, images_before = dangling_volumes(cli), images(cli)
    problems: list[str] = []
    for i in range(args.n):
        code, run_id, left = run_once(cli)
        print(f"run {i + 1}/{args.n} {run_id or '?'}: exit {code}, "
              f"{len(left)} left behind{': ' + ', '.join(left) if left else ''}", flush=True)
        problems += left
        if code != 0:
            problems.append(f"run {run_id} exited {code}")
    new_volumes = sorted(dangling_volumes(cli) - volumes_before)
    after = images(cli)
    new_images = [after[k] for k in sorted(set(after) - set(images_before))]
    cache = [i for i in new_images
             if dbcache.CACHE_LABEL in (i.labels or {}) and any(
                 t.startswith(f"{dbcache.CACHE_REPO}/") for t in i.tags)]
    # A run creates no image except its cache; an untagged one is a leftover.
    # Tagged images built meanwhile (e.g. `nox -s images` on a shared daemon)
    # are listed but are not the runs' doing.
    untagged = [i for i in new_images if not i.tags]
    built = [i for i in new_images if i not in cache and i not in untagged]
    print(f"\n{args.n} runs: {len(problems)} things left behind by run id")
    print(f"new anonymous volumes not in use: {len(new_volumes)} {new_volumes or ''}")
    print(f"new untagged images: {len(untagged)} {_names(untagged)}")
    print(f"new cache images (expected): {len(cache)} {_names(cache)}")
    print(f"new tagged images built by something else meanwhile: {len(built)} {_names(built)}")
    cli.close()
    return 0 if not problems and not new_volumes and not untagged else 1


if __name__ == "__main__":
    raise SystemExit(main())
