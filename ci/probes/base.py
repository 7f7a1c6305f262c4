"""The probe interface, and the one probe every kind can fall back on."""

from __future__ import annotations

import socket
from typing import Protocol

from ci.endpoints import Endpoint

# Each attempt must be short: the wait loop, not the probe, owns the deadline,
# and a slow attempt would hide a server that became ready meanwhile.
ATTEMPT_TIMEOUT = 2.0


class Probe(Protocol):
    description: str
    """What is checked, for messages: ``psycopg connect + SELECT 1``."""

    def check(self, endpoint: Endpoint) -> None:
        """Return when ready; raise any exception (its text is reported) when not.

        Raise :class:`Rejected` when the answer will not change by waiting
        (wrong password, unknown database): the wait ends at once.
        """


class Rejected(Exception):
    """The server answered and refused for good: waiting longer cannot help."""


class TcpProbe:
    """Something accepts TCP connections. Says nothing about the protocol."""

    description = "TCP connect"

    def check(self, endpoint: Endpoint) -> None:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=ATTEMPT_TIMEOUT):
            pass
