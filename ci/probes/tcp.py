"""The last resort: something accepts TCP connections. Says nothing about the protocol."""

from __future__ import annotations

import socket

from ci.endpoints import Endpoint
from ci.probes.base import ATTEMPT_TIMEOUT


class TcpProbe:
    description = "TCP connect"

    def check(self, endpoint: Endpoint) -> None:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=ATTEMPT_TIMEOUT):
            pass
