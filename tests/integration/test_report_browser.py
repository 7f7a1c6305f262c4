"""index.html in a real browser: headless Chromium (Debian's chromium-headless-shell).

The page is rendered from a report of two services, and the DOM Chromium
builds is checked for both rows, their status and their evidence links.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ci.report import write_report
from tests.prereqs import need

pytestmark = pytest.mark.integration

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser")


def browser() -> str:
    found = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    need(found is not None, "headless Chromium",
         "apt-get install chromium-headless-shell (`.ci/run` does this)")
    assert found is not None
    return found


def _run_dir(base: Path, name: str, code: int) -> Path:
    run_dir = base / name / "20261123T100000Z"
    (run_dir / "logs").mkdir(parents=True)
    (run_dir / "junit.xml").write_text("<testsuite/>")
    (run_dir / "logs" / "session.log").write_text("log\n")
    (run_dir / "run.json").write_text(json.dumps({
        "service": name, "backend": "compose", "exit_code": code,
        "stages": [{"name": "up", "status": "ok", "seconds": 1.0},
                   {"name": "test", "status": "ok" if code == 0 else "failed", "seconds": 3.0}],
        "tests": {"total": 4, "passed": 4 - code, "failed": code, "errors": 0, "skipped": 0,
                  "failures": [{"test": "t.test_x", "message": "boom"}] if code else []}}))
    return run_dir


def test_chromium_renders_both_services_failures_first(tmp_path: Path) -> None:
    chromium = browser()
    base = tmp_path / "integration"
    records = [
        {"name": "agent_executor", "status": "passed", "exit_code": 0, "counted": True,
         "started": None, "offset": 0.0, "seconds": 6.0,
         "run_dir": _run_dir(base, "agent_executor", 0),
         "log": base / "agent_executor/20261123T100000Z/logs/session.log", "notes": []},
        {"name": "inventory", "status": "failed", "exit_code": 1, "counted": True,
         "started": None, "offset": 0.2, "seconds": 5.0,
         "run_dir": _run_dir(base, "inventory", 1),
         "log": base / "inventory/20261123T100000Z/logs/session.log", "notes": []},
    ]
    write_report(records, base, started=dt.datetime.now(dt.UTC), jobs=2, exit_code=1,
                 environ={})
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
         (base / "index.html").as_uri()],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    rows = [line for line in dom.split("<tr ") if "data-service=" in line]
    assert [r.split('data-service="')[1].split('"')[0] for r in rows] == [
        "inventory", "agent_executor"]
    assert 'data-status="failed"' in rows[0] and 'data-status="passed"' in rows[1]
    assert 'href="inventory/20261123T100000Z/junit.xml"' in rows[0]
    assert "t.test_x" in rows[0] and "3 passed, 1 failed" in rows[0]
    shot = tmp_path / "report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                    "--window-size=1280,400", f"--screenshot={shot}",
                    (base / "index.html").as_uri()],
                   capture_output=True, timeout=60, check=False)
    assert shot.exists() and shot.stat().st_size > 5000  # something was painted
