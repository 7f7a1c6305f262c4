"""The aggregate run with real child processes: parallel, isolated, stoppable, reported.

Each "service" is a small Python process that behaves like a service session
(prints, writes run.json into its own run folder, exits with a code, tears
down on SIGTERM), so these tests exercise process groups, signal forwarding
and the report without the minutes a real suite takes. The real sessions are
run by tests/integration/test_multirun_nox.py and the benchmark.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import signal
import sys
import threading
from pathlib import Path

import pytest

from ci.report import write_report
from ci.tier2.multirun import MultiRun
from ci.tier2.procgroup import group_members

pytestmark = pytest.mark.integration

CHILD = r'''
import json, os, signal, subprocess, sys, time, pathlib
name, base, mode = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
run = base / name / f"20261123T100000Z-{os.getpid()}"
run.mkdir(parents=True)

def write(code):
    (run / "run.json").write_text(json.dumps({
        "service": name, "backend": "local", "exit_code": code,
        "stages": [{"name": "test", "status": "ok" if code == 0 else "failed", "seconds": 0.1}],
        "tests": {"total": 1, "passed": int(code == 0), "failed": int(code != 0),
                  "errors": 0, "skipped": 0, "failures": []}}))

def term(signum, frame):
    print(f"{name} tearing down", flush=True)
    (run / "tore-down").write_text("yes")
    write(130)
    sys.exit(130)

signal.signal(signal.SIGTERM, term)
print(f"{name} started", flush=True)
print("::add-mask::not-a-real-secret", flush=True)
if mode == "pass":
    time.sleep(1.5); write(0); print(f"{name} passed", flush=True); sys.exit(0)
if mode == "fail":
    time.sleep(0.3); write(1); sys.exit(1)
if mode == "leak":
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    write(0); sys.exit(0)
if mode == "hang":
    while True:
        time.sleep(0.05)
'''


def make_runner(tmp_path: Path, modes: dict[str, str], *, jobs: int, fail_fast: bool = False,
                timeout: float | None = None) -> tuple[MultiRun, io.StringIO]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    base = tmp_path / "artifacts" / "integration"
    out = io.StringIO()
    runner = MultiRun([{"name": n} for n in modes], repo_root=tmp_path, jobs=jobs,
                      fail_fast=fail_fast, timeout=timeout, base=base, stream=out,
                      command=lambda name: [sys.executable, str(script), name, str(base),
                                            modes[name]])
    return runner, out


def test_services_run_side_by_side_and_one_failure_does_not_stop_the_other(
        tmp_path: Path) -> None:
    runner, out = make_runner(tmp_path, {"slow": "pass", "broken": "fail"}, jobs=2)
    runs = {r.name: r for r in runner.run()}
    slow, broken = runs["slow"], runs["broken"]
    assert (slow.status, slow.exit_code, broken.status, broken.exit_code) == (
        "passed", 0, "failed", 1)
    assert runner.exit_code() == 1
    # They overlapped: broken started before slow ended.
    assert slow.started is not None and broken.started is not None and slow.ended is not None
    assert broken.started < slow.ended
    # Every line prefixed with its service; workflow commands left alone.
    lines = out.getvalue().splitlines()
    assert "slow   | slow passed" in lines and "broken | broken started" in lines
    assert lines.count("::add-mask::not-a-real-secret") == 2
    # The whole log is kept in the run folder Tier 3 wrote.
    assert slow.run_dir is not None and slow.log == slow.run_dir / "logs" / "session.log"
    assert slow.log.read_text().splitlines() == [
        "slow started", "::add-mask::not-a-real-secret", "slow passed"]


def test_fail_fast_stops_the_running_service_and_starts_no_more(tmp_path: Path) -> None:
    runner, _ = make_runner(tmp_path, {"broken": "fail", "hung": "hang", "later": "pass"},
                            jobs=2, fail_fast=True)
    runs = {r.name: r for r in runner.run()}
    assert runs["broken"].status == "failed"
    assert runs["hung"].status == "cancelled" and not runs["hung"].counted
    assert runs["hung"].run_dir is not None and (runs["hung"].run_dir / "tore-down").exists()
    assert runs["later"].status == "not started" and runs["later"].proc is None
    assert runner.exit_code() == 1  # the cancelled run's 130 does not count


def test_a_signal_tears_down_every_running_service_and_exits_130(tmp_path: Path) -> None:
    runner, out = make_runner(tmp_path, {"one": "hang", "two": "hang", "three": "hang"},
                              jobs=2)
    threading.Timer(1.0, runner.interrupt, args=(signal.SIGTERM,)).start()
    runs = {r.name: r for r in runner.run()}
    assert runner.exit_code() == 130
    for name in ("one", "two"):
        run = runs[name]
        assert run.status == "interrupted" and run.exit_code == 130
        assert run.run_dir is not None and (run.run_dir / "tore-down").exists()
        assert run.proc is not None and group_members(run.proc.pid) == []
    assert runs["three"].status == "not started"
    assert "SIGTERM: stopping every running service" in out.getvalue()


def test_a_session_over_its_timeout_is_stopped_and_counted_as_infra(tmp_path: Path) -> None:
    runner, _ = make_runner(tmp_path, {"hung": "hang"}, jobs=1, timeout=1.0)
    (run,) = runner.run()
    assert (run.status, run.exit_code) == ("timed out", 3)
    assert run.run_dir is not None and (run.run_dir / "tore-down").exists()
    assert runner.exit_code() == 3


def test_processes_left_in_a_finished_services_group_are_killed_and_said(
        tmp_path: Path) -> None:
    runner, _ = make_runner(tmp_path, {"leaky": "leak"}, jobs=1)
    (run,) = runner.run()
    assert run.status == "passed"
    assert run.notes and run.notes[0].startswith("killed 1 process(es) left in its group"), (
        run.status, run.exit_code, run.notes)
    assert run.proc is not None and group_members(run.proc.pid) == []


def test_the_report_of_a_real_run(tmp_path: Path) -> None:
    runner, _ = make_runner(tmp_path, {"good": "pass", "bad": "fail"}, jobs=2)
    runner.run()
    base = tmp_path / "artifacts" / "integration"
    write_report(runner.records(), base, started=dt.datetime.now(dt.UTC), jobs=2,
                 exit_code=runner.exit_code(), environ={})
    data = json.loads((base / "summary.json").read_text())
    assert [s["name"] for s in data["services"]] == ["bad", "good"]
    assert data["services"][1]["links"]["session_log"].startswith("good/20261123T100000Z-")
    assert data["exit_code"] == 1
