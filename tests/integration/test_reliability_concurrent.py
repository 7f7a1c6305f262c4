"""Four runs of one service started in the same second all pass, with 0 teardown errors.

Each round starts four Tier 3 processes of the same checkout at once: their
run folders are created in the same second, their sweeps see each other's
servers and containers (and must leave them alone, their owners being alive),
and their teardowns overlap. ``TIERS_CONCURRENT_ROUNDS`` repeats the round
(the issue's figure is 10 on compose).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.integration.reliability import Run, leftovers, make_checkout, settle
from tests.integration.test_reliability_storm import SUITE, framework_crash
from tests.prereqs import need_docker

pytestmark = pytest.mark.integration

RUNS = 4
TEARDOWN_ERRORS = ("collect failed", "down failed", "No such container", "404 Client Error")


# Compose has its own: tests/integration/test_compose_concurrency.py (same rounds variable).
@pytest.mark.parametrize("name", ["local"])
def test_four_runs_started_together_all_pass(tmp_path: Path, name: str) -> None:
    cli = docker_client() if name == "compose" else None
    rounds = int(os.environ.get("TIERS_CONCURRENT_ROUNDS", "1"))
    co = make_checkout(tmp_path, SUITE)
    problems: list[str] = []
    run_ids: set[str] = set()
    for n in range(rounds):
        runs = [Run(co, name) for _ in range(RUNS)]
        codes = [r.finish(timeout=300) for r in runs]
        for run, code in zip(runs, codes, strict=True):
            run_ids.add(run.run_id)
            errors = [e for e in TEARDOWN_ERRORS if e in run.output]
            if code != 0 or errors or framework_crash(run.output):
                problems.append(f"round {n + 1}, run {run.run_id}: exit {code}, {errors}\n"
                                + run.output[-2500:])
    print(f"\n{name}: {rounds} round(s) of {RUNS} concurrent runs, {len(problems)} failed")
    folders = co.artifacts()
    assert len(folders) == rounds * RUNS, "every run got its own artifacts folder"
    assert problems == [], "\n\n".join(problems)
    assert settle(lambda: leftovers(co.root, run_ids, {}, cli), timeout=20) == []


def docker_client() -> Any:
    need_docker()
    import docker

    return docker.from_env()
