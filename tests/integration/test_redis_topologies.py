"""A Redis Cluster and a Sentinel beside a single node, declared in tier3.py alone,
passing a suite that uses them (cluster client, MOVED redirects, Sentinel master
discovery) on local processes and on docker compose, with nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from ci.kinds.redis import TOPOLOGY_MIN_VERSION
from tests.integration.fixture_service import (
    alive,
    docker_leftovers,
    install_fixture,
    local_leftovers,
    run_fixture,
    runner,
)
from tests.prereqs import need_docker, need_servers

pytestmark = pytest.mark.integration


def test_topologies_pass_on_local(tmp_path: Path) -> None:
    need_servers("redis", min_version=TOPOLOGY_MIN_VERSION)
    run = run_fixture("redis_topologies", tmp_path, "local", timeout=180)
    assert run.result.returncode == 0, run.output
    assert "cluster: redis-server 7" in run.output and "3 processes" in run.output
    data = run.run_json()
    assert data["tests"]["passed"] == 6 and data["tests"]["failed"] == 0
    pids = run.server_pids()
    assert len(pids) == 1 + 3 + 2  # single; three cluster nodes; master + Sentinel
    assert alive(pids) == []
    assert local_leftovers(data["run_id"]) == []


@pytest.mark.docker
def test_topologies_pass_on_compose(tmp_path: Path) -> None:
    need_docker()
    run = run_fixture("redis_topologies", tmp_path, "compose")
    assert run.result.returncode == 0, run.output
    data = run.run_json()
    assert data["tests"]["passed"] == 6 and data["tests"]["failed"] == 0
    assert docker_leftovers(data["run_id"]) == []


def test_sweep_stops_every_process_of_a_killed_runs_topology(tmp_path: Path) -> None:
    """SIGKILL the runner while all six servers run; the next run's sweep stops
    every one of them (the state file lists each pid with its start time)."""
    need_servers("redis", min_version=TOPOLOGY_MIN_VERSION)
    checkout = install_fixture("redis_topologies", tmp_path)
    hold = tmp_path / "holding"
    argv, env = runner(checkout, "redis_topologies", "local", FIXTURE_HOLD_FILE=str(hold))
    proc = subprocess.Popen(argv, cwd=checkout, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not hold.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "suite never held"
            time.sleep(0.1)
        states = [json.loads(p.read_text()) for p in
                  Path(tempfile.gettempdir()).glob("tiers-redis_topologies-*/tiers-owner.json")]
        mine = [s for s in states if s["checkout"] == str(checkout)]
        pids = [int(p["pid"]) for s in mine for p in s["processes"]]
        assert sorted(len(s["processes"]) for s in mine) == [1, 2, 3]
        assert len(alive(pids)) == 6
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the runner and its pytest, not the servers
        proc.wait(timeout=10)
    assert len(alive(pids)) == 6, "the servers should outlive a SIGKILLed runner"
    second = run_fixture("redis_topologies", tmp_path, "local", timeout=180)
    assert second.result.returncode == 0, second.output
    deadline = time.monotonic() + 5
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive(pids) == []
    leftover = [p for p in Path(tempfile.gettempdir()).glob("tiers-redis_topologies-*")
                if json.loads((p / "tiers-owner.json").read_text())["checkout"] == str(checkout)]
    assert leftover == []
