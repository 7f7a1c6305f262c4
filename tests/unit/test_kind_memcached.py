"""The memcached kind: its URL and env names, and its probe against a real memcached."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from ci import Service, memcached  # type: ignore[attr-defined]  # registered at run time
from ci.backends.local import binaries
from ci.endpoints import Endpoint, suite_env
from ci.kinds import KINDS, kind_class
from ci.kinds.memcached import Memcached, MemcachedProbe
from ci.ports import free_port
from tests.prereqs import need_binary


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    """A real memcached on a free loopback port."""
    path = need_binary("memcached", "apt-get install memcached (`.ci/run` does this)")
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    proc = subprocess.Popen([path, "-l", "127.0.0.1", "-p", str(port), "-U", "0", *user],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "memcached died"
                time.sleep(0.02)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_registered_and_importable_from_ci() -> None:
    assert KINDS["memcached"][0] is Memcached and kind_class("memcached") is Memcached
    backing = memcached("cache", memory_mb=16)
    assert backing.kind_name == "memcached" and backing.default_port == 11211
    assert backing.kind == Memcached(memory_mb=16)


def test_url_and_env_names_through_the_generic_suite_env() -> None:
    ep = memcached("sessions").endpoint("127.0.0.1", 11300)
    assert ep.url == "memcached://127.0.0.1:11300"
    env = suite_env({"sessions": ep}, {"CACHE": "{sessions.address}"})
    assert env["MEMCACHED_HOST"] == "127.0.0.1" and env["MEMCACHED_PORT"] == "11300"
    assert env["MEMCACHED_URL"] == "memcached://127.0.0.1:11300"
    assert env["MEMCACHED_SERVERS"] == "127.0.0.1:11300"
    assert env["SESSIONS_URL"] == "memcached://127.0.0.1:11300"
    assert env["CACHE"] == "127.0.0.1:11300"


def test_probe_passes_on_a_real_memcached(server: int) -> None:
    MemcachedProbe().check(Endpoint("m", "memcached", "127.0.0.1", server))


def test_probe_refuses_a_server_speaking_another_protocol() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(64)
            conn.sendall(b"-ERR unknown command 'version'\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        with pytest.raises(RuntimeError, match="not VERSION"):
            MemcachedProbe().check(Endpoint("m", "memcached", "127.0.0.1", port))
    finally:
        thread.join(timeout=5)
        listener.close()


def test_probe_fails_on_a_closed_port() -> None:
    with pytest.raises(OSError):
        MemcachedProbe().check(Endpoint("m", "memcached", "127.0.0.1", free_port()))


def test_local_binary_is_found_with_its_version() -> None:
    need_binary("memcached", "apt-get install memcached")
    spec = Memcached.binaries
    assert spec is not None
    found = binaries.find(spec, "memcached", "1.6")
    assert found.version[:2] == (1, 6)


def test_declared_in_a_service_like_any_kind(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path)) / "services" / "svc"
    root.mkdir(parents=True)
    service = Service(root=root, backends=[memcached("cache")], migrations=None)
    assert service.problems() == []
