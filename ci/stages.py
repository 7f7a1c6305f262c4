"""The stages of a Tier 3 run and the statuses a stage ends in, declared once.

Everything else (the engine's order, ``--only``, hooks, run.json, the
benchmarks) reads these enums; no other module spells the list out.
"""

from __future__ import annotations

import enum


class Stage(enum.StrEnum):
    UP = "up"
    WAIT = "wait"
    MIGRATE = "migrate"
    TEST = "test"
    COLLECT = "collect"
    DOWN = "down"

    @property
    def starts_or_uses_backends(self) -> bool:
        """Stages that need running backends (so ``--only`` them needs up or --attach)."""
        return self in (Stage.WAIT, Stage.MIGRATE, Stage.TEST)


SETUP: tuple[Stage, ...] = (Stage.UP, Stage.WAIT, Stage.MIGRATE, Stage.TEST)
"""Run in order until one fails."""
TEARDOWN: tuple[Stage, ...] = (Stage.COLLECT, Stage.DOWN)
"""Always run, whatever happened before, shielded from signals."""
STAGES: tuple[str, ...] = tuple(s.value for s in Stage)


class Status(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"
    CACHED = "cached"
