"""The air-gapped stand-ins on a real Docker engine: what they serve, how they
take flags, and what `nox -s images` does with an image it cannot provide."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ci.backends.compose import images
from ci.backends.compose.recipes import BASE_IMAGE, version_tuple
from ci.console import Console
from tests.prereqs import need_docker

pytestmark = [pytest.mark.integration, pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[2]
DRAGONFLY = "docker.dragonflydb.io/dragonflydb/dragonfly:latest"
STANDINS = ["redis:7.0", "redis:7", DRAGONFLY, "nats:latest", "nats:2.12"]


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    need_docker()
    import docker

    stack = tmp_path_factory.mktemp("standins") / "compose.yml"
    stack.write_text("services:\n" + "".join(
        f"  s{i}:\n    image: {image}\n" for i, image in enumerate(STANDINS)))
    # Builds what is missing (a minute or two the first time), reuses the rest.
    images.ensure_images(stack, Console(prefix="test-images"))
    client = docker.from_env()
    yield client
    client.close()


def run(cli: Any, image: str, *command: str) -> Any:
    return cli.containers.run(image, list(command), detach=True, labels={"io.tiers.test": "1"})


def exec_out(container: Any, *cmd: str) -> str:
    code, out = container.exec_run(list(cmd))
    return f"{code}:{out.decode(errors='replace')}".replace("\r", "")


def wait_ping(container: Any, *cli_args: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if "PONG" in exec_out(container, "redis-cli", *cli_args, "ping"):
            return
        time.sleep(0.1)
    raise AssertionError(f"no PONG; log:\n{container.logs().decode(errors='replace')}")


def test_redis_flags_are_kept_cluster_on_the_given_port(cli: Any) -> None:
    container = run(cli, "redis:7.0", "--port", "7001", "--cluster-enabled", "yes")
    try:
        wait_ping(container, "-p", "7001")
        assert "cluster_enabled:1" in exec_out(container, "redis-cli", "-p", "7001", "info",
                                               "cluster")
        assert "PONG" not in exec_out(container, "redis-cli", "-p", "6379", "ping")
    finally:
        container.remove(force=True)


@pytest.mark.parametrize("command", [[], ["dragonfly"]])
def test_only_dragonflys_own_flags_are_dropped(cli: Any, command: list[str]) -> None:
    container = run(cli, DRAGONFLY, *command, "--logtostderr", "--proactor_threads=2",
                    "--cache_mode=true", "--maxmemory=100mb", "--port", "6380",
                    "--requirepass", "s3cret")
    try:
        auth = ("-p", "6380", "-a", "s3cret", "--no-auth-warning")
        wait_ping(container, *auth)
        assert "104857600" in exec_out(container, "redis-cli", *auth, "config", "get",
                                       "maxmemory")
        log = container.logs().decode(errors="replace")
        assert ("ignores Dragonfly's own flags: --logtostderr --proactor_threads=2 "
                "--cache_mode=true\n") in log
    finally:
        container.remove(force=True)


@pytest.mark.parametrize("image", ["redis:7.0", "redis:7"])
def test_sentinel_mode_knows_its_master(cli: Any, image: str) -> None:
    script = ("redis-server --port 6379 --daemonize yes --save '' && "
              "printf 'port 26379\\nsentinel monitor m 127.0.0.1 6379 1\\n' > /tmp/s.conf && "
              "exec redis-sentinel /tmp/s.conf")
    container = run(cli, image, "sh", "-c", script)
    try:
        wait_ping(container, "-p", "26379")
        assert exec_out(container, "redis-cli", "-p", "26379", "sentinel",
                        "get-master-addr-by-name", "m") == "0:127.0.0.1\n6379\n"
    finally:
        container.remove(force=True)


def test_redis_7_is_a_redis_72_server(cli: Any) -> None:
    labels = cli.images.get("redis:7").labels
    assert "Valkey 8.0" in labels[images.LABEL_STANDIN]
    served, server = images.served_version(cli, "redis:7")
    assert served >= (7, 2) and server.startswith("Valkey 8.")
    container = run(cli, "redis:7")
    try:
        wait_ping(container)
        # WAITAOF is new in Redis 7.2: the 7.0 stand-in does not know it.
        assert exec_out(container, "redis-cli", "waitaof", "0", "0", "0").startswith("0:0\n0")
    finally:
        container.remove(force=True)
    assert images.served_version(cli, "redis:7.0")[0][:2] == (7, 0)


def test_nats_latest_is_at_least_2_12(cli: Any) -> None:
    for tag in ("nats:latest", "nats:2.12"):
        served, server = images.served_version(cli, tag)
        assert served >= (2, 12), (tag, server)
    out = cli.containers.run("nats:latest", ["--version"], remove=True).decode()
    assert version_tuple(out) >= (2, 12)


def test_nox_images_exits_2_listing_every_uncovered_image(tmp_path: Path) -> None:
    need_docker()
    nox = shutil.which("nox")
    stack = tmp_path / "compose.yml"
    stack.write_text("services:\n  a: {image: 'redis:7.4'}\n  b: {image: 'nats:9.9'}\n"
                     "  c: {image: 'redis:7'}\n")
    command = ([nox, "-s", "images", "--"] if nox else
               [sys.executable, "-m", "ci.backends.compose.images"])
    proc = subprocess.run([*command, str(stack)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "2 images cannot be pulled and have no stand-in" in out
    assert "redis:7.4" in out and "nats:9.9" in out and "--backend local" in out
    assert "building" not in out


def test_prune_cache_removes_only_cache_images(cli: Any, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    repository = f"tiers-cache/tiers-test-{uuid.uuid4().hex[:8]}"
    other = f"tiers-test/kept-{uuid.uuid4().hex[:8]}:x"
    (tmp_path / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nLABEL io.tiers.test={repository}\n")
    image, _ = cli.images.build(path=str(tmp_path), tag=f"{repository}:x", rm=True)
    image.tag(other)  # the same image under a name that is not a cache's
    try:
        removed = images.prune_cache(Console(prefix="t"), reference=f"{repository}*")
        assert removed == [f"{repository}:x"]
        assert f"removed {repository}:x" in capsys.readouterr().out
        assert not cli.images.list(name=repository)
        assert cli.images.get(other).id == image.id
    finally:
        for name in (f"{repository}:x", other):
            with contextlib.suppress(Exception):
                cli.images.remove(name)


def test_a_compose_run_with_an_uncovered_image_stops_before_starting_anything(
        cli: Any, tmp_path: Path) -> None:
    from ci import Service, postgres, redis
    from ci.backends.compose.backend import ComposeBackend
    from ci.errors import ConfigError
    from ci.runinfo import RunInfo

    checkout = tmp_path / "checkout"
    (checkout / "compose").mkdir(parents=True)
    (checkout / "compose" / "svc.yml").write_text(
        "services:\n  postgres: {image: 'postgres:15', ports: ['127.0.0.1::5432']}\n"
        "  cache: {image: 'redis:7.4-alpine', ports: ['127.0.0.1::6379']}\n")
    service = Service(root=checkout / "services" / "svc", name="svc", migrations=None,
                      backends=[postgres("postgres"), redis("cache")])
    backend = ComposeBackend(service, RunInfo("svc", checkout), Console(prefix="test"))
    try:
        with pytest.raises(ConfigError) as caught:
            backend.up()
        assert caught.value.code == 2
        assert "redis:7.4-alpine (" in caught.value.message
        assert "needs redis 7.4" in caught.value.message
        started = cli.containers.list(all=True, filters={
            "label": [f"io.tiers.checkout={checkout}"]})
        assert started == []
    finally:
        backend.down()
