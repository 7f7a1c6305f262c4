"""The probe interface."""

from __future__ import annotations

from typing import Protocol

from ci.endpoints import Endpoint

# Each attempt must be short: the wait loop, not the probe, owns the deadline,
# and a slow attempt would hide a server that became ready meanwhile.
ATTEMPT_TIMEOUT = 2.0


class Probe(Protocol):
    description: str
    """What is checked, for messages: ``psycopg connect + SELECT 1``."""

    def check(self, endpoint: Endpoint) -> None:
        """Return when ready; raise any exception (its text is reported) when not."""
