"""The identity of one run, carried by everything the run starts.

Processes get it in their environment, containers and networks as labels,
temp dirs in their names. A later run uses it to find what a SIGKILLed run left
behind: a leftover is swept when it belongs to this checkout and its owner
process (pid *and* start time, so a reused pid does not count) is gone.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ENV_RUN_ID = "TIERS_RUN_ID"
ENV_OWNER = "TIERS_OWNER"
ENV_CHECKOUT = "TIERS_CHECKOUT"
ENV_SERVICE = "TIERS_SERVICE"
LABEL_PREFIX = "io.tiers"


def process_start_ticks(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            stat = fh.read()
    except OSError:
        return None
    # Field 22; the command name (field 2) may contain spaces, so split after ')'.
    return stat.rsplit(")", 1)[1].split()[19]


def owner_token(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{pid}:{process_start_ticks(pid) or '0'}"


def owner_alive(token: str) -> bool:
    """Whether the process named by an owner token (``pid:start``) still runs."""
    pid_text, _, start = token.partition(":")
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    current = process_start_ticks(pid)
    if current is None:
        return False
    return start in ("", "0") or current == start


@dataclass(frozen=True)
class RunInfo:
    service: str
    checkout: Path
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    owner: str = field(default_factory=owner_token)
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def timestamp(self) -> str:
        return self.started.strftime("%Y%m%dT%H%M%SZ")

    def process_env(self) -> dict[str, str]:
        return {
            ENV_RUN_ID: self.id,
            ENV_OWNER: self.owner,
            ENV_CHECKOUT: str(self.checkout),
            ENV_SERVICE: self.service,
        }

    def labels(self) -> dict[str, str]:
        return {
            f"{LABEL_PREFIX}.run-id": self.id,
            f"{LABEL_PREFIX}.service": self.service,
            f"{LABEL_PREFIX}.checkout": str(self.checkout),
            f"{LABEL_PREFIX}.owner": self.owner,
            f"{LABEL_PREFIX}.started": self.started.isoformat(timespec="seconds"),
        }
