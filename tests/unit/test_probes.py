"""Each kind's probe makes one attempt and gives up fast when nothing listens.

The wait loop owns polling and backoff; a probe that retries inside its own
client hides readiness behind the client's sleeps. nats-py's initial connect
with ``max_reconnect_attempts=0`` retried a refused port every 2 s for ever
(a NATS server that never came up hung the wait past its timeout), and
redis-py retried with backoff for 4.7 s. These run the real client libraries
against a port nothing listens on.
"""

from __future__ import annotations

import socket
import time

import pytest

from ci import http, memcached, nats, postgres, redis, tcp
from ci.backing import Backing
from ci.kinds import KINDS
from ci.probes import Rejected, client_modules

BACKINGS = [
    postgres("pg"), redis("cache"), redis("cluster", topology="cluster"),
    redis("sentinel", topology="sentinel"), nats("bus"), http("api"), tcp("raw"),
    memcached("mc"),
]


def test_every_kind_is_covered() -> None:
    assert {b.kind_name for b in BACKINGS} == set(KINDS)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("backing", BACKINGS, ids=lambda b: b.kind_name)
def test_probe_gives_up_at_once_when_nothing_listens(backing: Backing) -> None:
    probe = backing.kind.probe()
    endpoint = backing.endpoint("127.0.0.1", _closed_port())
    for module in backing.kind.python_modules:  # import time is not the probe's
        __import__(module)
    started = time.monotonic()
    with pytest.raises(Exception) as caught:
        probe.check(endpoint)
    took = time.monotonic() - started
    # Well under the 2 s and 4.7 s of the clients' own retries, with room for a busy machine.
    assert took < 1.5, f"{backing.kind_name} probe took {took:.2f}s to give up"
    # Nothing listening is "not yet", never a permanent refusal.
    assert not isinstance(caught.value, Rejected)


def test_client_modules_are_each_named_once() -> None:
    assert client_modules([postgres("a"), postgres("b"), redis("c"), tcp("d")]) == [
        "psycopg", "redis"]
