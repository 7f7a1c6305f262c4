"""Anything else: probed by a TCP connect, the weakest check, so the last resort."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Unpack

from ci.backing import Backing, Placement
from ci.kinds.base import Kind


@dataclass(frozen=True)
class Tcp(Kind):
    name: ClassVar[str] = "tcp"
    default_port: ClassVar[int] = 0


def tcp(name: str, *, command: Sequence[str] = (), **placement: Unpack[Placement]) -> Backing:
    """A server the framework knows nothing about; ``command`` starts it locally."""
    return Backing(name, Tcp(command=tuple(command)), **placement)
