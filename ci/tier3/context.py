"""The state of one Tier 3 run, handed from stage to stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ci.console import Console
from ci.endpoints import Endpoint
from ci.runinfo import RunInfo
from ci.service import Service
from ci.stages import Stage, Status

if TYPE_CHECKING:
    from ci.backends.base import Backend
    from ci.tier3.junit import TestCounts
    from ci.tier3.suite import PytestProcess


@dataclass
class StageResult:
    stage: Stage
    status: Status
    seconds: float
    detail: str = ""

    @property
    def name(self) -> str:
        return self.stage.value


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
    started_backends: bool = False
    """Set once ``up`` began: from then on a problem is not 'nothing was started'."""
    command: list[str] = field(default_factory=list)
    """The command line that started this run (recorded in run.json for replay)."""
    env_name: str = ""
    selected: list[Stage] = field(default_factory=list)
    use_cache: bool = True
    prestarted: PytestProcess | None = None
    """pytest, started during ``up`` and held until the test stage releases it."""

    def result(self, stage: Stage) -> StageResult | None:
        for r in self.stages:
            if r.stage is stage:
                return r
        return None
