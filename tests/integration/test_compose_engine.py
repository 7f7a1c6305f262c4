"""The example's Tier 3 runner on ``--backend compose``, as a user runs it.

Each run is a real ``python services/agent_executor/ci/tier3.py`` process; what
it leaves behind is counted by its run id, so runs of other people in the same
checkout cannot disturb the count. Ctrl-C is sent to the whole process group,
as a terminal does, so the compose CLI child sees it too.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ci.backends.compose.images import ensure_images
from ci.console import Console
from tests.prereqs import need_docker

pytestmark = [pytest.mark.integration, pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "services" / "agent_executor" / "ci" / "tier3.py"


@pytest.fixture(scope="module")
def docker_client() -> Any:
    need_docker()
    import docker

    ensure_images(ROOT / "compose" / "agent_executor.yml", Console(prefix="test-images"))
    cli = docker.from_env()
    yield cli
    cli.close()


def leftovers(cli: Any, run_id: str) -> list[str]:
    selector = {"label": [f"io.tiers.run-id={run_id}"]}
    return ([f"container {c.name}" for c in cli.containers.list(all=True, filters=selector)]
            + [f"network {n.name}" for n in cli.networks.list(filters=selector)]
            + [f"volume {v.name}" for v in cli.volumes.list(filters=selector)])


class Run:
    """One runner process, its output read line by line in a thread."""

    def __init__(self, artifacts: Path, *args: str) -> None:
        env = {**os.environ, "TIERS_BACKEND": "compose", "PYTHONUNBUFFERED": "1"}
        env.pop("CI", None)  # the example's secret may use its local placeholder
        self.proc = subprocess.Popen(
            [sys.executable, str(RUNNER), "--artifacts", str(artifacts), *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, pattern: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if re.search(pattern, line):
                    return line
            if self.proc.poll() is not None and not self.reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f"no line matching {pattern!r}; output:\n" + self.output)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def run_id(self) -> str:
        line = self.wait_for_line(r"run [0-9a-f]{8}:")
        match = re.search(r"run ([0-9a-f]{8}):", line)
        assert match
        return match.group(1)

    def ctrl_c(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)

    def finish(self, timeout: float = 300) -> int:
        code = self.proc.wait(timeout)
        self.reader.join(10)
        return code


def run_json(artifacts: Path) -> dict[str, Any]:
    found = sorted(artifacts.rglob("run.json"))
    assert found, f"no run.json under {artifacts}"
    data: dict[str, Any] = json.loads(found[-1].read_text())
    return data


def test_example_passes_on_compose_with_container_logs(docker_client: Any,
                                                        tmp_path: Path) -> None:
    run = Run(tmp_path)
    run_id = run.run_id
    assert run.finish() == 0, run.output
    assert "backend: compose" in run.output
    logs = {p.name for p in tmp_path.rglob("logs/*.log")}
    assert {"postgres.log", "dragonfly.log", "nats.log"} <= logs
    assert run_json(tmp_path)["exit_code"] == 0
    assert leftovers(docker_client, run_id) == []


def test_two_runs_started_together_both_pass(docker_client: Any, tmp_path: Path) -> None:
    runs = [Run(tmp_path / "a"), Run(tmp_path / "b")]
    ids = [r.run_id for r in runs]
    codes = [r.finish() for r in runs]
    assert codes == [0, 0], "\n\n".join(r.output for r in runs)
    for run_id in ids:
        assert leftovers(docker_client, run_id) == []


# Each trigger is a line printed inside the stage, which then lasts a second or
# more (`compose up -d`; the suite), or, for the short wait, the line that ends
# the stage before it; the delay only makes sure the signal lands after it.
@pytest.mark.parametrize(("stage", "trigger", "delay"), [
    ("up", r"migrated-database cache", 0.2),
    ("wait", r"\bup\s+ok\b", 0.0),
    ("test", r"collected \d+ items", 0.2),
])
def test_ctrl_c_leaves_nothing_behind(docker_client: Any, tmp_path: Path, stage: str,
                                      trigger: str, delay: float) -> None:
    run = Run(tmp_path)
    run_id = run.run_id
    run.wait_for_line(trigger)
    time.sleep(delay)
    run.ctrl_c()
    code = run.finish()
    assert code == 130, run.output
    assert leftovers(docker_client, run_id) == [], run.output
    stages = {s["name"]: s["status"] for s in run_json(tmp_path)["stages"]}
    assert stages.get(stage) == "interrupted", stages  # it hit the stage it meant to
    assert stages.get("down") == "ok", stages


RUNNER_TEMPLATE = '''
import sys
sys.path.insert(0, {root!r})
from ci import Service, Suite, tcp, redis
service = Service(backends=[{backend}], migrations=None, suite=Suite("tests"))
if __name__ == "__main__":
    service.main()
'''
BROKEN_CASES = {
    "crash": ('tcp("crash", container_port=6379, timeout=60)', """
services:
  crash:
    image: docker.dragonflydb.io/dragonflydb/dragonfly:latest
    entrypoint: ["sh", "-c", "echo dying on purpose >&2; exit 3"]
    ports: ["127.0.0.1::6379"]
""", 30, "exit code 3"),
    "unhealthy": ('redis("cache", timeout=5)', """
services:
  cache:
    image: docker.dragonflydb.io/dragonflydb/dragonfly:latest
    ports: ["127.0.0.1::6379"]
    healthcheck: {test: ["CMD", "false"], interval: 500ms, retries: 100}
""", 40, "not ready after 5s"),
    "broken": ('redis("cache")', """
services:
  cache:
    image: docker.dragonflydb.io/dragonflydb/dragonfly:latest
    ports: ["127.0.0.1::6379"]
    restart: [not, valid]
""", 40, "up` failed"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_CASES))
def test_broken_stacks_exit_3_quickly_with_logs(docker_client: Any, tmp_path: Path,
                                                case: str) -> None:
    backend, compose_text, limit, reason = BROKEN_CASES[case]
    checkout = tmp_path / "checkout"
    runner = checkout / "services" / "svc" / "ci" / "tier3.py"
    runner.parent.mkdir(parents=True)
    (checkout / "services" / "svc" / "tests").mkdir()
    runner.write_text(RUNNER_TEMPLATE.format(root=str(ROOT), backend=backend))
    (checkout / "compose").mkdir()
    (checkout / "compose" / "svc.yml").write_text(compose_text)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, str(runner), "--backend", "compose", "--artifacts",
                           str(tmp_path / "art")], cwd=checkout, capture_output=True,
                          text=True, timeout=120, check=False)
    elapsed = time.monotonic() - started
    output = proc.stdout + proc.stderr
    assert proc.returncode == 3, output
    assert elapsed < limit, output
    assert reason in output
    selector = {"label": [f"io.tiers.checkout={checkout}"]}
    assert docker_client.containers.list(all=True, filters=selector) == []
    assert docker_client.networks.list(filters=selector) == []
    if case == "crash":
        assert "dying on purpose" in output  # the log tail on screen
        logs = list((tmp_path / "art").rglob("logs/crash.log"))
        assert logs and "dying on purpose" in logs[0].read_text()
        assert list((tmp_path / "art").rglob("logs/compose-inspect.json"))
