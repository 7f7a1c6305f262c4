"""Readiness: the wait loop (:mod:`ci.probes.wait`) and the probe interface.

Each kind's probe lives with its kind (``ci/kinds/<kind>.py``); a probe answers
one question, "does this endpoint serve its protocol now?", and the wait loop
owns polling, backoff, deadlines and dead-server detection.
"""

from __future__ import annotations

from collections.abc import Iterable

from ci.backing import Backing
from ci.probes.base import Probe, Rejected, TcpProbe


def probe_for(backing: Backing) -> Probe:
    return backing.kind.probe()


def client_modules(backings: Iterable[Backing]) -> list[str]:
    """The Python client libraries the backings' probes import (psycopg, redis, nats)."""
    return sorted({m for b in backings for m in b.kind.python_modules})


__all__ = ["Probe", "Rejected", "TcpProbe", "client_modules", "probe_for"]
