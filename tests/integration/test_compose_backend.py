"""The compose backend on a real Docker engine: up, wait, probe, collect, down.

Every test runs in its own throw-away checkout (a temp dir holding ``compose/``
and ``services/<name>/``), so the labels it leaves can be counted exactly: the
autouse fixture fails the test if any container, network or volume labelled
with that checkout survives it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ci import Backing, Service, nats, postgres, redis, tcp
from ci.backends.compose import sweep
from ci.backends.compose.backend import ComposeBackend
from ci.backends.compose.images import ensure_images
from ci.console import Console
from ci.errors import BackendDied, ConfigError, InfraError
from ci.probes.wait import wait_all, wait_for
from ci.runinfo import RunInfo, owner_token
from tests.prereqs import need_docker

pytestmark = [pytest.mark.integration, pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[2]
STACK = (ROOT / "compose" / "agent_executor.yml").read_text()
PG = postgres("postgres", database="agent_executor_test", user="test", password="test")
DF = redis("dragonfly")
NATS = nats("nats")
REDIS_ONLY = """
services:
  dragonfly:
    image: docker.dragonflydb.io/dragonflydb/dragonfly:latest
    ports: ["127.0.0.1::6379"]
"""


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    need_docker()
    import docker

    cli = docker.from_env()
    # Build the stand-ins once if they are missing (about a minute the first time).
    ensure_images(ROOT / "compose" / "agent_executor.yml", Console(prefix="test-images"))
    yield cli
    cli.close()


def leftovers(cli: Any, checkout: Path) -> list[str]:
    selector = {"label": [f"io.tiers.checkout={checkout}"]}
    return ([f"container {c.name}" for c in cli.containers.list(all=True, filters=selector)]
            + [f"network {n.name}" for n in cli.networks.list(filters=selector)]
            + [f"volume {v.name}" for v in cli.volumes.list(filters=selector)])


@pytest.fixture
def checkout(tmp_path: Path, docker_client: Any) -> Iterator[Path]:
    root = tmp_path / "checkout"
    (root / "compose").mkdir(parents=True)
    yield root
    left = leftovers(docker_client, root)
    for c in docker_client.containers.list(all=True, filters={
            "label": [f"io.tiers.checkout={root}"]}):
        c.remove(force=True, v=True)
    for n in docker_client.networks.list(filters={"label": [f"io.tiers.checkout={root}"]}):
        n.remove()
    for v in docker_client.volumes.list(filters={"label": [f"io.tiers.checkout={root}"]}):
        v.remove(force=True)
    assert left == [], f"the test left these behind: {left}"


def make_backend(checkout: Path, compose_text: str, backends: list[Backing],
                 run: RunInfo | None = None, name: str = "svc") -> ComposeBackend:
    compose_file = checkout / "compose" / f"{name}.yml"
    compose_file.write_text(compose_text)
    service = Service(root=checkout / "services" / name, name=name, backends=backends,
                      migrations=None)
    run = run or RunInfo(name, checkout)
    return ComposeBackend(service, run, Console(prefix="test"))


def test_stack_up_ready_probed_collected_and_down(checkout: Path, docker_client: Any,
                                                  tmp_path: Path) -> None:
    backend = make_backend(checkout, STACK, [PG, DF, NATS])
    try:
        backend.up()
        ready = wait_all(backend, [PG, DF, NATS])
        assert {r.backing.name for r in ready} == {"postgres", "dragonfly", "nats"}
        assert all(backend.native_ready(b) for b in (PG, DF, NATS))
        endpoints = {b.name: backend.endpoint(b) for b in (PG, DF, NATS)}
        assert {ep.host for ep in endpoints.values()} == {"127.0.0.1"}
        assert len({ep.port for ep in endpoints.values()}) == 3  # dynamic, distinct

        import psycopg
        import redis as redis_client

        with psycopg.connect(endpoints["postgres"].url) as conn:
            encoding = conn.execute("SHOW server_encoding").fetchone()
            version = conn.execute("SHOW server_version_num").fetchone()
        assert encoding == ("UTF8",)
        assert version is not None and int(version[0]) >= 150000
        r = redis_client.Redis(host="127.0.0.1", port=endpoints["dragonfly"].port)
        assert r.ping() is True
        r.close()

        # Containers carry the run's labels (from the generated override file).
        for c in backend._containers():
            assert c.labels["io.tiers.run-id"] == backend.run.id
            assert c.labels["io.tiers.owner"] == backend.run.owner
        logs = tmp_path / "logs"
        written = {p.name for p in backend.collect(logs, failed=True)}
        assert {"postgres.log", "dragonfly.log", "nats.log", "compose.log",
                "compose-ps.txt", "compose-inspect.json"} <= written
        assert "ready to accept connections" in (logs / "postgres.log").read_text()
        inspect = (logs / "compose-inspect.json").read_text()
        assert "POSTGRES_PASSWORD=***" in inspect
        assert "POSTGRES_PASSWORD=test" not in inspect
        assert backend.project in (logs / "compose-ps.txt").read_text()
    finally:
        backend.down()
    assert leftovers(docker_client, checkout) == []
    backend.down()  # idempotent


def test_two_runs_at_once_both_come_up(checkout: Path, docker_client: Any) -> None:
    first = make_backend(checkout, STACK, [PG, DF, NATS])
    second = make_backend(checkout, STACK, [PG, DF, NATS])
    errors: list[BaseException] = []

    def run(backend: ComposeBackend) -> None:
        try:
            backend.up()
            wait_all(backend, [PG, DF, NATS])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(b,)) for b in (first, second)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        assert first.project != second.project
        assert first.endpoint(PG).port != second.endpoint(PG).port
    finally:
        first.down()
        second.down()


def test_crash_at_start_fails_the_wait_at_once(checkout: Path) -> None:
    crashing = """
services:
  crash:
    image: postgres:15
    entrypoint: ["sh", "-c", "echo dying on purpose >&2; exit 3"]
    ports: ["127.0.0.1::5432"]
"""
    backing = tcp("crash", container_port=5432, timeout=60)
    backend = make_backend(checkout, crashing, [backing])
    try:
        backend.up()
        started = time.monotonic()
        with pytest.raises(BackendDied) as info:
            wait_for(backend, backing)
        assert time.monotonic() - started < 15  # far below the 60 s timeout
        assert "exit code 3" in info.value.message
        assert "dying on purpose" in info.value.message
        with pytest.raises(BackendDied, match="exit code 3"):
            backend.check_alive(backing)
    finally:
        backend.down()


def test_healthcheck_that_never_passes_times_out(checkout: Path) -> None:
    unhealthy = """
services:
  dragonfly:
    image: docker.dragonflydb.io/dragonflydb/dragonfly:latest
    ports: ["127.0.0.1::6379"]
    healthcheck: {test: ["CMD", "false"], interval: 500ms, retries: 100}
"""
    backing = redis("dragonfly", timeout=3)
    backend = make_backend(checkout, unhealthy, [backing])
    try:
        backend.up()
        with pytest.raises(InfraError, match="not ready after 3s"):
            wait_for(backend, backing)
        assert backend.native_ready(backing) is False
    finally:
        backend.down()


def test_pinned_port_taken_names_port_and_holder(checkout: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        pinned = REDIS_ONLY.replace("127.0.0.1::6379", f"127.0.0.1:{port}:6379")
        backend = make_backend(checkout, pinned, [DF])
        try:
            with pytest.raises(InfraError) as info:
                backend.up()
        finally:
            backend.down()
    assert f"host port {port} is already in use" in info.value.message
    assert f"pid {os.getpid()}" in info.value.message


def test_broken_compose_file_fails_and_leaves_nothing(checkout: Path) -> None:
    broken = REDIS_ONLY + "    restart: [this is not valid]\n"
    backend = make_backend(checkout, broken, [DF])
    try:
        with pytest.raises(InfraError, match="up` failed"):
            backend.up()
    finally:
        backend.down()


def test_missing_service_is_a_config_error(checkout: Path) -> None:
    backend = make_backend(checkout, REDIS_ONLY, [DF, NATS])
    with pytest.raises(ConfigError, match="no service 'nats'"):
        backend.up()
    backend.down()


def test_sweep_removes_a_killed_owners_leftovers_only(checkout: Path, docker_client: Any) -> None:
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        dead_run = RunInfo("svc", checkout, owner=owner_token(owner.pid))
        dead = make_backend(checkout, REDIS_ONLY, [DF], run=dead_run)
        live = make_backend(checkout, REDIS_ONLY, [DF])  # owned by this (live) process
        dead.up()
        live.up()
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    try:
        sweeper = make_backend(checkout, REDIS_ONLY, [DF])
        removed = sweeper.sweep()
        assert any(line.startswith("container ") and dead.project in line for line in removed)
        assert any(line.startswith("network ") and dead.project in line for line in removed)
        assert all(live.project not in line for line in removed)
        assert dead._containers() == []
        assert len(live._containers()) == 1
        assert sweeper.sweep() == []  # nothing left to sweep
    finally:
        live.down()
        dead.down()  # a no-op now: down after a sweep must not fail


def test_kept_run_survives_sweeps_until_released(checkout: Path) -> None:
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    backend = make_backend(checkout, REDIS_ONLY, [DF],
                           run=RunInfo("svc", checkout, owner=owner_token(owner.pid)))
    try:
        backend.up()
        wait_for(backend, DF)
        command = backend.keep()
        assert backend.project in command and "down" in command and "--volumes" in command
        assert sweep.temp_dirs(backend.run.id) != []  # as the engine leaves a kept run
        owner.kill()
        owner.wait()
        assert make_backend(checkout, REDIS_ONLY, [DF]).sweep() == []
        assert len(backend._containers()) == 1
        released = make_backend(checkout, REDIS_ONLY, [DF]).release(backend.run.id)
        assert released[0] == f"compose project {backend.project}"
        assert backend._containers() == []
        assert sweep.temp_dirs(backend.run.id) == []  # --down RUN_ID leaves no temp dir
    finally:
        if owner.poll() is None:
            owner.kill()
        backend._started = True
        backend.down()


def test_down_kills_a_shell_pid_1_at_once(checkout: Path) -> None:
    """No 10 s stop timeout for a container whose PID 1 ignores SIGTERM."""
    stubborn = """
services:
  stubborn:
    image: docker.dragonflydb.io/dragonflydb/dragonfly:latest
    entrypoint: ["sh", "-c", "sleep 1000"]
    ports: ["127.0.0.1::6379"]
"""
    backing = tcp("stubborn", container_port=6379, timeout=30)
    backend = make_backend(checkout, stubborn, [backing])
    backend.up()
    backend.check_alive(backing)
    started = time.monotonic()
    backend.down()
    assert time.monotonic() - started < 5  # compose down would take over 10 s
    assert backend._containers() == []


def test_check_alive_notices_a_removed_container(checkout: Path, docker_client: Any) -> None:
    backend = make_backend(checkout, REDIS_ONLY, [DF])
    try:
        backend.up()
        backend.check_alive(DF)
        for c in backend._containers():
            c.remove(force=True)
        with pytest.raises(BackendDied, match="removed"):
            backend.check_alive(DF)
    finally:
        backend.down()
