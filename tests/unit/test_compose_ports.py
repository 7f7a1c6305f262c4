"""Published-port discovery and naming who holds a pinned port."""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest

from ci.backends.compose import ports


class FakeContainer:
    def __init__(self, name: str, bindings: dict[str, Any], project: str = "") -> None:
        self.name = name
        self.attrs = {"NetworkSettings": {"Ports": bindings}}
        self.labels = {"com.docker.compose.project": project} if project else {}


def test_published_prefers_ipv4_and_maps_wildcard_to_loopback(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    c = FakeContainer("pg", {"5432/tcp": [{"HostIp": "::", "HostPort": "49154"},
                                          {"HostIp": "0.0.0.0", "HostPort": "49153"}]})
    assert ports.published(c, 5432) == ("127.0.0.1", 49153)
    assert ports.published(c, 6379) is None
    c2 = FakeContainer("pg", {"5432/tcp": [{"HostIp": "127.0.0.1", "HostPort": "15433"}],
                              "8222/tcp": None})
    assert ports.published(c2, 5432) == ("127.0.0.1", 15433)
    assert ports.published_ports(c2) == [5432]


def test_remote_daemon_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://build-box:2375")
    c = FakeContainer("pg", {"5432/tcp": [{"HostIp": "0.0.0.0", "HostPort": "1234"}]})
    assert ports.published(c, 5432) == ("build-box", 1234)


@pytest.mark.parametrize("message", [
    "Error response from daemon: driver failed programming external connectivity on endpoint "
    "x_postgres_1: Bind for 127.0.0.1:15433 failed: port is already allocated",
    "Error starting userland proxy: listen tcp4 0.0.0.0:15433: bind: address already in use",
    "Error starting userland proxy: listen tcp [::]:15433: bind: address already in use",
])
def test_conflicting_port_is_parsed(message: str) -> None:
    assert ports.conflicting_port("Creating x ... error\n" + message) == 15433


def test_no_port_in_other_errors() -> None:
    assert ports.conflicting_port("manifest for postgres:99 not found") is None


def test_holder_is_a_container_when_one_publishes_it() -> None:
    class Cli:
        class containers:
            @staticmethod
            def list() -> list[FakeContainer]:
                return [FakeContainer("other_pg_1", {
                    "5432/tcp": [{"HostIp": "0.0.0.0", "HostPort": "15433"}]}, "other-1234")]

    assert ports.port_holder(15433, Cli()) == (
        "container other_pg_1, compose project other-1234")


def test_holder_is_this_process_for_a_real_listener() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        holder = ports.port_holder(port)
    assert holder is not None
    assert f"pid {os.getpid()}" in holder


def test_holder_unknown_for_a_free_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert ports.port_holder(port) is None


def test_pinned_reads_fixed_host_ports_only() -> None:
    from pathlib import Path

    from ci.backends.compose.composefile import ComposeModel

    model = ComposeModel(path=Path("c.yml"), services={
        "db": {"ports": ["127.0.0.1:${PG_PORT:-15433}:5432", "5432", "127.0.0.1:0:5433"]},
        "cache": {"ports": ["16380:6379", {"published": 18222, "target": 8222}]},
        "nats": {},
    })
    assert ports.pinned(model, {}) == [("db", "127.0.0.1", 15433), ("cache", "0.0.0.0", 16380),
                                       ("cache", "0.0.0.0", 18222)]
    assert ports.pinned(model, {"PG_PORT": "0"})[0] == ("cache", "0.0.0.0", 16380)


def test_in_use_sees_a_listener_and_not_a_free_port() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert ports.in_use("127.0.0.1", port)
    assert not ports.in_use("127.0.0.1", port)
