"""Where a running backend can be reached, and the env var names suites read.

A backend (local process, compose container, a port-forwarded pod) turns each
declared backing service into an :class:`Endpoint`; :func:`suite_env` turns the
endpoints into the variables a suite reads. The names follow three layers, each
overriding the one before: a generic ``<NAME>_HOST``/``<NAME>_PORT`` per
backend, the conventions of each kind (libpq's ``PG*``, ``DATABASE_URL``,
``REDIS_URL``, ``NATS_URL``, the ``POSTGRES_*`` of official images), and the
service's own ``export`` templates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ci.errors import ConfigError


@dataclass(frozen=True)
class Endpoint:
    name: str
    kind: str
    host: str
    port: int
    user: str | None = None
    password: str | None = None
    database: str | None = None
    path: str = "/"
    nodes: tuple[str, ...] = ()
    """``host:port`` of every node of a topology (a Redis Cluster's nodes, a
    sentinel's sentinels) as the suite reaches them; empty for one server."""
    peers: tuple[str, ...] = ()
    """The same nodes as they reach one another (container addresses on
    compose); empty when that is ``nodes``. Only a kind's set-up uses it."""

    def __post_init__(self) -> None:
        # Kept-run files store these as JSON lists.
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "peers", tuple(self.peers))

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        from ci.kinds import kind_class

        return kind_class(self.kind)().url(self)

    def public_url(self) -> str:
        """The URL with the password field masked (by structure, not by search)."""
        from ci.kinds import kind_class

        return kind_class(self.kind)().url(self, masked=True)


def env_name(backend_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", backend_name).upper()


def suite_env(endpoints: Mapping[str, Endpoint], export: Mapping[str, str]) -> dict[str, str]:
    """The variables that tell a suite where its backends are.

    ``export`` maps a variable name to a template such as ``"{dragonfly.url}"``
    or ``"{postgres.host}:{postgres.port}"``; the first endpoint of each kind
    also gets that kind's conventional names.
    """
    env: dict[str, str] = {}
    for ep in endpoints.values():
        prefix = env_name(ep.name)
        env[f"{prefix}_HOST"] = ep.host
        env[f"{prefix}_PORT"] = str(ep.port)
        env[f"{prefix}_URL"] = ep.url
        if ep.nodes:
            env[f"{prefix}_NODES"] = ",".join(ep.nodes)
    seen_kinds: set[str] = set()
    for ep in endpoints.values():
        if ep.kind not in seen_kinds:
            seen_kinds.add(ep.kind)
            from ci.kinds import kind_class

            env.update(kind_class(ep.kind)().env(ep))
    for var, template in export.items():
        env[var] = render_template(template, endpoints, var)
    return env


class _Attrs:
    def __init__(self, ep: Endpoint) -> None:
        self._ep = ep

    def __getattr__(self, item: str) -> str:
        value = getattr(self._ep, item)
        return "" if value is None else str(value)


def render_template(template: str, endpoints: Mapping[str, Endpoint], var: str = "") -> str:
    namespace = {name: _Attrs(ep) for name, ep in endpoints.items()}
    try:
        return template.format_map(namespace)
    except (KeyError, AttributeError) as exc:
        raise ConfigError(
            f"export {var}={template!r} refers to {exc}, which is not a declared backend "
            "or endpoint attribute",
            hint=f"backends: {', '.join(endpoints)}; attributes: host, port, url, user, "
            "password, database, address",
        ) from None
