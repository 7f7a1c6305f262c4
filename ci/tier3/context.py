"""The state of one Tier 3 run, handed from stage to stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ci.console import Console
from ci.endpoints import Endpoint
from ci.runinfo import RunInfo
from ci.service import Service

if TYPE_CHECKING:
    from ci.backends.base import Backend
    from ci.tier3.junit import TestCounts


@dataclass
class StageResult:
    name: str
    status: str  # ok | failed | skipped | interrupted
    seconds: float
    detail: str = ""


@dataclass
class RunContext:
    """Everything a stage or a user hook may read.

    Hooks get this object: ``ctx.endpoints["postgres"].url``, ``ctx.env`` (the
    suite's environment), ``ctx.artifacts`` (the run's artifact folder).
    """

    service: Service
    run: RunInfo
    console: Console
    backend: Backend
    artifacts: Path
    env: dict[str, str] = field(default_factory=dict)
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    pytest_args: list[str] = field(default_factory=list)
    stages: list[StageResult] = field(default_factory=list)
    tests: TestCounts | None = None
    test_exit: int | None = None
    keep: bool = False
    failed: bool = False
    error: str = ""
