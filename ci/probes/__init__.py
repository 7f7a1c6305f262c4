"""Readiness: the wait loop (:mod:`ci.probes.wait`) and the probe interface.

Each kind's probe lives with its kind (``ci/kinds/<kind>.py``); a probe answers
one question, "does this endpoint serve its protocol now?", and the wait loop
owns polling, backoff, deadlines and dead-server detection.
"""

from __future__ import annotations

from ci.backing import Backing
from ci.probes.base import Probe, Rejected, TcpProbe


def probe_for(backing: Backing) -> Probe:
    return backing.kind.probe()


__all__ = ["Probe", "Rejected", "TcpProbe", "probe_for"]
