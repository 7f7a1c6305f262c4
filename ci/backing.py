"""One backing service a suite talks to: a kind of server, and where it runs.

The kind (``ci.kinds.<kind>``) knows everything about the protocol: default
port, URL, env names, probe, how to start a local server. A :class:`Backing`
adds what is particular to this service's use of it: its name, a pinned port,
a minimum version, a wait budget, its name in the compose file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from ci.endpoints import Endpoint

if TYPE_CHECKING:
    from ci.kinds.base import Kind


class Placement(TypedDict, total=False):
    """Keyword arguments every kind's factory accepts (``postgres(..., port=5432)``)."""

    port: int | None
    min_version: str | None
    timeout: float
    compose_service: str | None
    container_port: int | None


@dataclass(frozen=True)
class Backing:
    name: str
    kind: Kind
    port: int | None = None
    """Pin the host port (for suites that hard-code ``localhost:4222``); free port if None."""
    min_version: str | None = None
    """Lowest acceptable server version; the local backend picks a binary that satisfies it."""
    timeout: float = 30.0
    """Seconds the wait stage gives this backend to pass its probe."""
    compose_service: str | None = None
    """Service name in the compose file, if it differs from ``name``."""
    container_port: int | None = None
    """The port the server listens on inside its container; the kind's default if None."""

    @property
    def kind_name(self) -> str:
        """The kind as a plain string (``"postgres"``), for labels and messages."""
        return self.kind.name

    @property
    def default_port(self) -> int:
        return self.container_port or self.kind.default_port

    @property
    def compose_name(self) -> str:
        return self.compose_service or self.name

    def endpoint(self, host: str, port: int, *, nodes: tuple[str, ...] = (),
                 peers: tuple[str, ...] = ()) -> Endpoint:
        """This backing service reachable at ``host:port``, with its credentials.

        ``nodes``/``peers``: for a kind of several servers (a Redis Cluster),
        every node as the suite reaches it and as the nodes reach one another.
        """
        return Endpoint(self.name, self.kind.name, host, port, nodes=nodes, peers=peers,
                        **self.kind.endpoint_fields())
