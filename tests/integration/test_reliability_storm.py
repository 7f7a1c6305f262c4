"""The interrupt storm: signals at random moments of every stage, then SIGKILLs, then 0 leftovers.

The storm runs once on ``--backend local`` and once on ``--backend compose``,
each in a checkout of its own. Each interrupted run gets SIGINT (to its process group, as a
terminal sends it) or SIGTERM (to the runner, as a CI runner cancelling a job
does) at a random moment of a randomly chosen stage: the test waits for the
line that says the stage began (the previous stage's report line), then for a
random fraction of a second. Each SIGKILLed run (its whole process group) is
followed by a run on the same backend whose sweep must remove what it left.

Leftovers are then counted: processes by pid *and* start time from the local
backend's state files (redis-server rewrites its environment, so the
environment alone cannot be trusted), any process still carrying one of the
runs' ids, ``tiers-*`` temp dirs of those runs, and containers, networks and
volumes labelled with the checkout. There must be none.

``TIERS_STORM_N`` sets the number of interrupts across both backends (default
6); SIGKILLs are a fifth of that, at least 2. ``TIERS_STORM_SEED`` replays a
storm.
"""

from __future__ import annotations

import os
import random
import signal
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.integration.reliability import (
    BACKENDS,
    Checkout,
    Run,
    docker_leftovers,
    leftovers,
    make_checkout,
    recorded_processes,
    settle,
)
from tests.prereqs import need_docker, need_servers

pytestmark = [pytest.mark.integration, pytest.mark.docker]

STAGE_BEGINS = {
    "up": r"\] run [0-9a-f]{8}:",
    "wait": r"\] up\s+ok",
    "migrate": r"\] wait\s+ok",
    "test": r"\] migrate\s+ok",
    "collect": r"\] test\s+(ok|failed)",
    "down": r"\] collect\s+ok",
}
WITHIN = {"up": 0.5, "wait": 0.3, "migrate": 0.1, "test": 1.5, "collect": 0.2, "down": 0.3}
"""Upper bound of the random delay after a stage began (about its usual length)."""

SUITE = '''
import os, socket, time
import pytest

@pytest.mark.parametrize("name", ["DB", "CACHE", "BUS"])
def test_reaches(name):
    socket.create_connection(("127.0.0.1", int(os.environ[name + "_PORT"])), timeout=5).close()
    time.sleep(0.4)
'''


@dataclass
class Event:
    backend: str
    action: str
    stage: str
    run_id: str
    code: int | None
    hit: str
    seconds: float

    def row(self) -> str:
        return (f"{self.backend:<8} {self.action:<8} {self.stage:<8} -> {self.hit:<22} "
                f"exit {self.code!s:<4} {self.seconds:5.1f}s  run {self.run_id}")


def hit_stage(co: Checkout, run_id: str) -> str:
    """Which stage the signal landed in, from run.json (what the run itself recorded)."""
    try:
        data = co.run_json(run_id)
    except AssertionError:
        return "no run.json"
    for stage in data["stages"]:
        if stage["status"] == "interrupted":
            return str(stage["name"])
    if data.get("error") == "interrupted during teardown":
        return "teardown (noted)"
    return f"none (exit {data['exit_code']})"


def framework_crash(output: str) -> bool:
    """The framework's own crash messages (pytest's traceback when it is stopped is not one)."""
    return any(text in output for text in ("unexpected error in the framework",
                                           "internal error in the framework"))


def storm_size(backend: str) -> tuple[int, int]:
    """This backend's share of ``TIERS_STORM_N`` interrupts and of the SIGKILLs."""
    n = int(os.environ.get("TIERS_STORM_N", "6"))
    kills = max(2, n // 5)
    first = backend == "local"
    return n // 2 + (n % 2 if first else 0), max(1, kills // 2 + (kills % 2 if first else 0))


def known_leak(line: str) -> bool:
    """A compose temp dir of a SIGKILLed run: there until the next run's sweep removes it."""
    return line.startswith("temp dir ") and "/tiers-compose-" in line


@pytest.fixture
def docker_client() -> Any:
    need_docker()
    import docker

    cli = docker.from_env()
    yield cli
    cli.close()


def _servers() -> None:
    need_servers(*BACKENDS.values())


@pytest.mark.parametrize("backend", ["local", "compose"])
def test_interrupt_storm_leaves_nothing(tmp_path: Path, docker_client: Any,
                                        backend: str) -> None:
    _servers()
    interrupts, kills = storm_size(backend)
    seed = int(os.environ.get("TIERS_STORM_SEED", str(random.randrange(10**6))))
    rng = random.Random(f"{seed}-{backend}")
    co = make_checkout(tmp_path, SUITE)
    run_ids: set[str] = set()
    tracked: dict[str, list[tuple[int, str]]] = {}
    events: list[Event] = []
    problems: list[str] = []

    def remember(run: Run) -> str:
        run_id = run.run_id
        run_ids.add(run_id)
        return run_id

    def snapshot() -> None:
        for rid, procs in recorded_processes(co.root).items():
            known = tracked.setdefault(rid, [])
            known += [p for p in procs if p not in known]

    plan = ["interrupt"] * interrupts + ["kill"] * kills
    rng.shuffle(plan)
    for action in plan:
        stage = rng.choice(list(STAGE_BEGINS))
        run = Run(co, backend)
        run_id = remember(run)
        began = run.wait_for(STAGE_BEGINS[stage], timeout=180)
        snapshot()
        time.sleep(max(0.0, began + rng.uniform(0, WITHIN[stage]) - time.monotonic()))
        snapshot()
        verdict_before = run.find(r"\] faults: (passed|exit \d+)") is not None
        sent = time.monotonic()
        if action == "kill":
            run.signal(signal.SIGKILL, group=True)
        elif rng.random() < 0.5:
            action = "sigint"
            run.signal(signal.SIGINT, group=True)
        else:
            action = "sigterm"
            run.signal(signal.SIGTERM)
        code = run.finish(timeout=180)
        seconds = time.monotonic() - sent
        if action == "kill":
            events.append(Event(backend, action, stage, run_id, code, "killed", seconds))
            sweeper = Run(co, backend)
            sweep_id = remember(sweeper)
            sweep_code = sweeper.finish(timeout=240)
            events.append(Event(backend, "sweep", "-", sweep_id, sweep_code,
                                "swept" if "swept" in sweeper.output else "nothing to sweep",
                                time.monotonic() - sent))
            if sweep_code != 0:
                problems.append(f"sweeping run {sweep_id} exited {sweep_code}:\n"
                                + sweeper.output[-3000:])
            if framework_crash(sweeper.output):
                problems.append(f"framework error in sweeping run {sweep_id}")
            continue
        events.append(Event(backend, action, stage, run_id, code, hit_stage(co, run_id),
                            seconds))
        if code != 130 and not verdict_before:
            problems.append(f"run {run_id} ({backend}, {action} in {stage}) exited {code}:\n"
                            + run.output[-3000:])
        if framework_crash(run.output):
            problems.append(f"framework error in run {run_id}:\n{run.output[-3000:]}")
        left = [x for x in settle(partial(leftovers, co.root, {run_id}, tracked, docker_client))
                if not known_leak(x)]
        if left:
            problems.append(f"run {run_id} ({backend}, {action} in {stage}) left: {left}")

    report = "\n".join(e.row() for e in events)
    # After the last sweeping run nothing may remain, temp dirs of SIGKILLed runs included.
    final = settle(lambda: leftovers(co.root, run_ids, tracked, docker_client), timeout=20)
    print(f"\ninterrupt storm on {backend} (seed {seed}): {interrupts} interrupts, {kills} "
          f"SIGKILLs, {len(run_ids)} runs\n{report}\nleftovers: {len(final)}")
    hits = {e.hit for e in events if e.action in ("sigint", "sigterm")}
    print(f"stages hit: {sorted(hits)}")
    assert problems == [], "\n\n".join(problems) + f"\n\nseed {seed}\n{report}"
    assert final == [], f"seed {seed}"


def test_the_sweep_removes_a_sigkilled_compose_runs_temp_dir(tmp_path: Path,
                                                             docker_client: Any) -> None:
    co = make_checkout(tmp_path, SUITE)
    killed = Run(co, "compose")
    dead = killed.run_id
    killed.wait_for(STAGE_BEGINS["wait"])
    killed.signal(signal.SIGKILL, group=True)
    killed.finish()
    assert list(Path(tempfile.gettempdir()).glob(f"tiers-compose-{dead}-*")), "it had one"
    sweeper = Run(co, "compose")
    assert sweeper.finish(timeout=240) == 0, sweeper.output
    assert docker_leftovers(docker_client, co.root) == []
    assert list(Path(tempfile.gettempdir()).glob(f"tiers-compose-{dead}-*")) == []
