"""Memcached, probed in its own text protocol: ``version`` must answer ``VERSION x.y.z``.

A TCP connect alone is accepted by the listening socket before the worker
threads serve requests, and by anything else that happens to hold the port;
the ``version`` command is the cheapest request that only a memcached answers.
The probe is a raw socket (no client library): the framework needs nothing
installed to check it, and suites bring whichever client they use.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Unpack

from ci.backing import Backing, Placement
from ci.endpoints import Endpoint
from ci.kinds.base import BinarySpec, Kind, LocalStart

if TYPE_CHECKING:
    from ci.backends.local.processes import Child
    from ci.probes.base import Probe


@dataclass(frozen=True)
class Memcached(Kind):
    name: ClassVar[str] = "memcached"
    default_port: ClassVar[int] = 11211
    scheme: ClassVar[str] = "memcached"
    binaries: ClassVar[BinarySpec | None] = BinarySpec(
        names=("memcached",),
        advice="apt-get install memcached (1.6)",
    )

    memory_mb: int = 64
    """Cache size (``-m``); items beyond it are evicted, as in production."""

    def env(self, ep: Endpoint) -> dict[str, str]:
        return {"MEMCACHED_HOST": ep.host, "MEMCACHED_PORT": str(ep.port),
                "MEMCACHED_URL": self.url(ep), "MEMCACHED_SERVERS": ep.address}

    def probe(self) -> Probe:
        return MemcachedProbe()

    def start_local(self, backing: Backing, start: LocalStart) -> Child:
        from ci.backends.local.processes import spawn
        from ci.backends.local.servers import unprivileged_user

        if self.command or start.binary is None:
            return self.start_command(backing, start)
        # memcached refuses to run as root; it needs no files, so the
        # unprivileged user needs nothing handed over. UDP off (-U 0): it is an
        # amplification vector and no test client uses it.
        argv = [str(start.binary.path), "-l", start.host, "-p", str(start.port), "-U", "0",
                "-m", str(self.memory_mb), "-c", "1024"]
        return spawn(backing.name, argv, log=start.log, env=start.env,
                     user=unprivileged_user())


def memcached(name: str = "memcached", *, memory_mb: int = 64,
              command: tuple[str, ...] | list[str] = (),
              **placement: Unpack[Placement]) -> Backing:
    """A memcached server (``memcached://host:port``)."""
    return Backing(name, Memcached(memory_mb=memory_mb, command=tuple(command)), **placement)


class MemcachedProbe:
    description = "memcached `version` command"

    def check(self, endpoint: Endpoint) -> None:
        from ci.probes.base import ATTEMPT_TIMEOUT

        with socket.create_connection((endpoint.host, endpoint.port),
                                      timeout=ATTEMPT_TIMEOUT) as conn:
            conn.sendall(b"version\r\n")
            reply = _read_line(conn)
        if not reply.startswith(b"VERSION "):
            raise RuntimeError(f"`version` answered {reply[:60]!r}, not VERSION x.y.z: "
                               "is this port a memcached?")


def _read_line(conn: socket.socket, limit: int = 256) -> bytes:
    data = b""
    while not data.endswith(b"\r\n") and len(data) < limit:
        chunk = conn.recv(limit)
        if not chunk:
            raise ConnectionError(f"connection closed after {data!r}")
        data += chunk
    return data.rstrip(b"\r\n")
