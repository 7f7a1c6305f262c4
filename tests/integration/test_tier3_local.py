"""The Tier 3 engine end to end on the local-process backend, with real servers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.integration.demo_service import Demo, make_demo, run_processes, temp_dirs
from tests.prereqs import need_servers

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _servers() -> None:
    need_servers("postgres", "redis")


def _run_id(output: str) -> str:
    match = re.search(r"\] run ([0-9a-f]{8}):", output)
    assert match, output
    return match.group(1)


def _assert_nothing_left(run_id: str) -> None:
    deadline = time.monotonic() + 5
    while run_processes(run_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert run_processes(run_id) == []
    assert temp_dirs(run_id) == []


def test_passing_run_leaves_artifacts_and_nothing_running(tmp_path: Path) -> None:
    demo = make_demo(tmp_path)
    result = demo.run()
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    for stage in ("up", "wait", "migrate", "test", "collect", "down"):
        assert re.search(rf"\] {stage}\s+ok\s+\d+\.\d\ds", out), stage
    [art] = demo.artifacts()
    run = json.loads((art / "run.json").read_text())
    assert run["exit_code"] == 0 and run["backend"] == "local"
    assert run["tests"]["passed"] == 3 and run["tests"]["failed"] == 0
    assert [s["name"] for s in run["stages"]] == ["up", "wait", "migrate", "test", "collect",
                                                  "down"]
    assert (art / "coverage.xml").exists() and (art / "htmlcov" / "index.html").exists()
    assert (art / "logs" / "db.log").stat().st_size > 0
    assert (art / "logs" / "cache.log").exists()
    _assert_nothing_left(run["run_id"])


def test_failing_test_exits_1_with_failure_in_junit(tmp_path: Path) -> None:
    demo = make_demo(tmp_path, test_body="def test_broken():\n    assert 1 == 2, 'deliberate'\n")
    result = demo.run()
    assert result.returncode == 1, result.stdout + result.stderr
    [art] = demo.artifacts()
    failures = ET.parse(art / "junit.xml").getroot().findall(".//failure")
    assert len(failures) == 1 and "deliberate" in (failures[0].get("message") or "")
    run = json.loads((art / "run.json").read_text())
    assert run["tests"]["failed"] == 1
    _assert_nothing_left(run["run_id"])


def test_broken_migration_exits_3_naming_the_file(tmp_path: Path) -> None:
    demo = make_demo(tmp_path, migrations={
        "001_ok.sql": "CREATE TABLE widgets (id int);",
        "002_bad.sql": "CREATE TABLE widgets (id int);\nSELEC 1;",
    })
    result = demo.run()
    out = result.stdout + result.stderr
    assert result.returncode == 3, out
    assert "002_bad.sql failed (line 2)" in out and "syntax error at or near \"SELEC\"" in out
    run = json.loads((demo.artifacts()[0] / "run.json").read_text())
    assert [s["status"] for s in run["stages"]][:3] == ["ok", "ok", "failed"]
    _assert_nothing_left(run["run_id"])


def _start_and_wait_for(demo: Demo, marker: str, **env: str) -> tuple[subprocess.Popen[str], str]:
    # "-s" so the test's marker line is not captured by pytest.
    proc = subprocess.Popen([*demo.argv(), "--", "-s"], cwd=demo.checkout, env=demo.env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + 120
    while marker not in seen and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
    assert marker in seen, seen
    return proc, seen


SLOW_TEST = """
import time
def test_slow():
    print("SLOW-TEST-STARTED", flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("how", ["sigint-group", "sigterm"])
def test_interrupt_during_tests_exits_130_and_cleans_up(tmp_path: Path, how: str) -> None:
    demo = make_demo(tmp_path, test_body=SLOW_TEST)
    proc, seen = _start_and_wait_for(demo, "SLOW-TEST-STARTED", PYTHONUNBUFFERED="1")
    run_id = _run_id(seen)
    if how == "sigint-group":  # what Ctrl-C in a terminal does
        os.killpg(proc.pid, signal.SIGINT)
    else:  # what a CI runner cancelling a job does
        proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, seen + rest
    assert re.search(r"\] down\s+ok", rest)
    _assert_nothing_left(run_id)


def test_sigkilled_run_is_swept_by_the_next_run(tmp_path: Path) -> None:
    demo = make_demo(tmp_path, test_body=SLOW_TEST)
    proc, seen = _start_and_wait_for(demo, "SLOW-TEST-STARTED")
    dead_run = _run_id(seen)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert run_processes(dead_run), "servers should outlive a SIGKILLed runner"
    (demo.service_dir / "tests" / "test_demo.py").write_text("def test_ok():\n    pass\n")
    result = demo.run()
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert f"of run {dead_run}" in out and "swept" in out
    _assert_nothing_left(dead_run)


def test_server_dying_during_wait_fails_at_once_with_its_log(tmp_path: Path) -> None:
    demo = make_demo(tmp_path, extra="""
    default_backend=None,
""")
    runner = demo.runner.read_text().replace(
        'redis("cache")',
        'redis("cache"), tcp("flaky", command=["sh", "-c", "echo boom-from-flaky; exit 7"], '
        'timeout=60)',
    ).replace("from ci import", "from ci import tcp,")
    demo.runner.write_text(runner)
    start = time.monotonic()
    result = demo.run()
    elapsed = time.monotonic() - start
    out = result.stdout + result.stderr
    assert result.returncode == 3, out
    assert "exited with code 7" in out and "boom-from-flaky" in out
    assert elapsed < 30, f"took {elapsed:.1f}s: the dead server was waited on"


def test_wait_timeout_names_probe_and_last_error(tmp_path: Path) -> None:
    demo = make_demo(tmp_path)
    runner = demo.runner.read_text().replace(
        'redis("cache")',
        'redis("cache"), http("api", command=["sleep", "60"], timeout=1.5)',
    ).replace("from ci import", "from ci import http,")
    demo.runner.write_text(runner)
    result = demo.run()
    out = result.stdout + result.stderr
    assert result.returncode == 3, out
    assert "api (http) not ready after 1.5s" in out
    assert "probe: HTTP GET / -> 200" in out and "last error:" in out
    run = json.loads((demo.artifacts()[0] / "run.json").read_text())
    _assert_nothing_left(run["run_id"])


def test_keep_attach_only_test_then_down(tmp_path: Path) -> None:
    demo = make_demo(tmp_path)
    kept = demo.run("--keep")
    out = kept.stdout + kept.stderr
    assert kept.returncode == 0, out
    run_id = _run_id(out)
    assert "--down " + run_id in out and "postgresql://" in out
    assert run_processes(run_id), "kept servers must stay up"
    # A later run's sweep must not touch the kept run.
    other = demo.run()
    assert other.returncode == 0
    assert run_processes(run_id)
    again = demo.run("--attach", run_id, "--only", "migrate,test")
    out2 = again.stdout + again.stderr
    assert again.returncode == 0, out2
    assert "2 already applied" in out2
    down = demo.run("--down", run_id)
    assert down.returncode == 0, down.stdout + down.stderr
    _assert_nothing_left(run_id)


def test_min_version_not_met_lists_versions_found(tmp_path: Path) -> None:
    demo = make_demo(tmp_path)
    demo.runner.write_text(demo.runner.read_text().replace(
        'redis("cache")', 'redis("cache", min_version="99.0")'))
    result = demo.run()
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert "needs version >= 99.0; found only:" in out


def test_pinned_port_in_use_names_the_holder(tmp_path: Path) -> None:
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        demo = make_demo(tmp_path)
        demo.runner.write_text(demo.runner.read_text().replace(
            'redis("cache")', f'redis("cache", port={port})'))
        result = demo.run()
        out = result.stdout + result.stderr
        assert result.returncode == 3, out
        assert f"pinned port {port} is already in use by pid {os.getpid()}" in out
    finally:
        holder.close()


def test_migrations_rerun_skips_and_edited_file_is_an_error(tmp_path: Path) -> None:
    demo = make_demo(tmp_path)
    kept = demo.run("--keep")
    run_id = _run_id(kept.stdout + kept.stderr)
    try:
        (demo.service_dir / "migrations" / "002_seed.sql").write_text(
            "INSERT INTO widgets (name) VALUES ('two');")
        result = demo.run("--attach", run_id, "--only", "migrate")
        out = result.stdout + result.stderr
        assert result.returncode == 3, out
        assert "002_seed.sql was changed after it was applied" in out
    finally:
        demo.run("--down", run_id)
    _assert_nothing_left(run_id)
