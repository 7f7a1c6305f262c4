"""Four Tier 3 runs of one service started in the same second, on compose, in rounds.

Each round starts four real ``tier3.py --backend compose`` processes at once;
every one must pass, print no teardown trouble, and leave nothing with its run
id (containers, networks, volumes, its ``tiers-compose-<run>-*`` folder).
``TIERS_CONCURRENT_ROUNDS`` sets the number of rounds (default 1; the
reliability target is 10).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from ci.backends.compose import sweep
from tests.integration.test_compose_engine import Run, docker_client, leftovers

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.slow]

__all__ = ["docker_client"]  # the fixture, shared with the engine tests

ROUNDS = int(os.environ.get("TIERS_CONCURRENT_ROUNDS", "1"))
RUNS = 4
TROUBLE = re.compile(r"(down|collect) failed|404|No such container|trying compose down|"
                     r"could not remove|Traceback")


@pytest.mark.parametrize("round_no", range(1, ROUNDS + 1))
def test_four_runs_started_in_one_second_all_pass_and_clean_up(
        docker_client: Any, tmp_path: Path, round_no: int) -> None:
    started = time.monotonic()
    runs = [Run(tmp_path / f"run{i}") for i in range(RUNS)]
    assert time.monotonic() - started < 1.0
    ids = [r.run_id for r in runs]
    codes = [r.finish() for r in runs]
    outputs = "\n\n".join(r.output for r in runs)
    assert codes == [0] * RUNS, outputs
    trouble = [line for line in outputs.splitlines() if TROUBLE.search(line)]
    assert trouble == [], f"round {round_no}: teardown trouble:\n" + "\n".join(trouble)
    for run_id in ids:
        assert leftovers(docker_client, run_id) == []
        assert sweep.temp_dirs(run_id) == []
