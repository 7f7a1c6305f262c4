"""Run a fixture service (``tests/fixtures/<name>``) from a throwaway checkout.

The fixture is copied to ``<tmp>/checkout/services/<name>`` so its artifacts,
kept-run state and compose project belong to that checkout alone; its runner
is a real ``python ci/tier3.py`` process, as a user runs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


@dataclass
class FixtureRun:
    result: subprocess.CompletedProcess[str]
    checkout: Path
    name: str

    @property
    def output(self) -> str:
        return self.result.stdout + self.result.stderr

    def server_pids(self) -> list[int]:
        """Every pid the local backend printed at ``up`` (``(pid 1, 2, 3)``)."""
        found = re.findall(r"\(pid ([\d, ]+)\)", self.output)
        return [int(p) for group in found for p in group.split(",")]

    def run_json(self) -> dict[str, Any]:
        [art] = sorted((self.checkout / "artifacts" / "integration" / self.name).iterdir())
        data: dict[str, Any] = json.loads((art / "run.json").read_text())
        return data


def install_fixture(name: str, tmp: Path) -> Path:
    """Copy the fixture into ``<tmp>/checkout/services/<name>``; return the checkout
    (again: the same checkout, for a second run)."""
    checkout = tmp / "checkout"
    if not (checkout / "services" / name).exists():
        shutil.copytree(FIXTURES / name, checkout / "services" / name)
    return checkout


def runner(checkout: Path, name: str, backend: str, **extra_env: str
           ) -> tuple[list[str], dict[str, str]]:
    """argv and environment of the fixture's ``ci/tier3.py`` as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERS_")}
    env["TIERS_RESULT_CACHE"] = "off"  # every run a test starts runs for real
    env["PYTHONPATH"] = str(ROOT)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("GITHUB_ACTIONS", None)
    env.update(extra_env)
    argv = [sys.executable, str(checkout / "services" / name / "ci" / "tier3.py"),
            "--backend", backend]
    return argv, env


def run_fixture(name: str, tmp: Path, backend: str, timeout: float = 600) -> FixtureRun:
    checkout = install_fixture(name, tmp)
    argv, env = runner(checkout, name, backend)
    result = subprocess.run(argv, cwd=checkout, env=env, capture_output=True, text=True,
                            timeout=timeout, check=False)
    return FixtureRun(result, checkout, name)


def local_leftovers(run_id: str) -> list[str]:
    """Processes tagged with ``run_id`` and its temp dirs, after a short grace."""
    from ci.backends.local.processes import tagged_processes

    deadline = time.monotonic() + 5
    while True:
        procs = [f"pid {p.pid}: {p.command}" for p in tagged_processes() if p.run_id == run_id]
        dirs = [str(p) for p in Path(tempfile.gettempdir()).glob(f"tiers-*-{run_id}-*")]
        if not procs or time.monotonic() > deadline:
            return procs + dirs
        time.sleep(0.1)


def alive(pids: list[int]) -> list[int]:
    """Those of ``pids`` still running (zombies count as gone)."""
    out = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.append(pid)
    return out


def docker_leftovers(run_id: str) -> list[str]:
    import docker

    cli = docker.from_env()
    try:
        selector = {"label": [f"io.tiers.run-id={run_id}"]}
        return ([f"container {c.name}" for c in cli.containers.list(all=True, filters=selector)]
                + [f"network {n.name}" for n in cli.networks.list(filters=selector)]
                + [f"volume {v.name}" for v in cli.volumes.list(filters=selector)])
    finally:
        cli.close()
