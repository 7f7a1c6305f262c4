"""Readiness probes: one real protocol check per kind of backing service.

A probe answers one question, "does this endpoint serve its protocol now?", by
raising on "no". Polling, backoff, timeouts and dead-process detection live in
:mod:`ci.probes.wait`, so a new probe is a dozen lines.
"""

from __future__ import annotations

from ci.probes.base import Probe
from ci.probes.http import HttpProbe
from ci.probes.nats import NatsProbe
from ci.probes.postgres import PostgresProbe
from ci.probes.redis import RedisProbe
from ci.probes.tcp import TcpProbe
from ci.service import Backing


def probe_for(backing: Backing) -> Probe:
    if backing.kind == "postgres":
        return PostgresProbe()
    if backing.kind == "redis":
        return RedisProbe()
    if backing.kind == "nats":
        return NatsProbe(jetstream=backing.jetstream)
    if backing.kind == "http":
        return HttpProbe(path=backing.path, status=backing.expect_status)
    return TcpProbe()


__all__ = [
    "HttpProbe", "NatsProbe", "PostgresProbe", "Probe", "RedisProbe", "TcpProbe", "probe_for",
]
