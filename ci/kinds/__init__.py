"""Every kind of backing service, registered in one place.

Adding a kind is one module under ``ci/kinds/`` (a :class:`~ci.kinds.base.Kind`
subclass and its factory function) and one line in :data:`KINDS` below; its
factory is then importable as ``from ci import <kind>``.
"""

from __future__ import annotations

from ci.errors import ConfigError
from ci.kinds.base import Kind
from ci.kinds.http import Http, http
from ci.kinds.memcached import Memcached, memcached
from ci.kinds.nats import Nats, nats
from ci.kinds.postgres import Postgres, postgres
from ci.kinds.redis import Redis, redis
from ci.kinds.redis_cluster import RedisCluster
from ci.kinds.redis_sentinel import RedisSentinel
from ci.kinds.tcp import Tcp, tcp

KINDS: dict[str, tuple[type[Kind], object]] = {
    cls.name: (cls, factory)
    for cls, factory in (
        (Postgres, postgres),
        (Redis, redis),
        (Nats, nats),
        (Http, http),
        (Tcp, tcp),
        (Memcached, memcached),
        (RedisCluster, redis),
        (RedisSentinel, redis),
    )
}
"""name -> (Kind class, factory): the registry."""


def kind_class(name: str) -> type[Kind]:
    try:
        return KINDS[name][0]
    except KeyError:
        raise ConfigError(f"unknown kind of backing service {name!r}",
                          hint=f"kinds: {', '.join(KINDS)}") from None


def factories() -> dict[str, object]:
    """Factory name -> factory; kinds sharing one (``redis(topology=...)``) appear once."""
    return {getattr(factory, "__name__", name): factory
            for name, (_cls, factory) in KINDS.items()}


__all__ = ["KINDS", "Kind", "kind_class"]
