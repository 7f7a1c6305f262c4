"""The memcached kind end to end: a fixture service whose suite talks memcached,
on local processes and on docker compose, with nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.fixture_service import docker_leftovers, local_leftovers, run_fixture
from tests.prereqs import need_binary, need_docker

pytestmark = pytest.mark.integration


def test_memcached_fixture_passes_on_local(tmp_path: Path) -> None:
    need_binary("memcached", "apt-get install memcached (`.ci/run` does this)")
    run = run_fixture("memcached_service", tmp_path, "local", timeout=180)
    assert run.result.returncode == 0, run.output
    assert "sessions: memcached 1.6" in run.output
    data = run.run_json()
    assert data["tests"]["passed"] == 3 and data["tests"]["failed"] == 0
    assert local_leftovers(data["run_id"]) == []


@pytest.mark.docker
def test_memcached_fixture_passes_on_compose(tmp_path: Path) -> None:
    need_docker()
    run = run_fixture("memcached_service", tmp_path, "compose")
    assert run.result.returncode == 0, run.output
    data = run.run_json()
    assert data["tests"]["passed"] == 3 and data["tests"]["failed"] == 0
    assert docker_leftovers(data["run_id"]) == []
