"""Tier 2 reports a finished Tier 3 run to GitHub itself: real nox, a fake Tier 3.

The fake runner keeps the contract the real one follows: it writes run.json
and junit.xml into its run folder and that folder's absolute path into the
file named by ``TIERS_RESULT_FILE``, then exits 1. It does not call Tier 1,
so every annotation and summary line seen here is Tier 2's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.prereqs import need

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NOX = Path(sys.executable).parent / "nox"

FAKE_TIER3 = '''"""A fake Tier 3: one failing test, counts with reruns and deselected tests."""
import json, os, pathlib, sys

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="2" failures="1" errors="0" skipped="0">
<testcase classname="tests.test_x" name="test_ok" time="0.1"/>
<testcase classname="tests.test_x" name="test_bad" time="0.1">
<failure message="assert 41 == 42">tests/test_x.py:2: AssertionError</failure></testcase>
</testsuite></testsuites>
"""

if __name__ == "__main__":
    root = pathlib.Path(__file__).resolve().parents[3]
    run = root / "artifacts" / "integration" / "fake" / "20260101T000000Z"
    run.mkdir(parents=True, exist_ok=True)
    (run / "junit.xml").write_text(JUNIT)
    (run / "run.json").write_text(json.dumps({
        "service": "fake", "backend": "none", "exit_code": 1, "error": None,
        "stages": [{"name": "test", "status": "failed", "seconds": 0.2}],
        "tests": {"total": 2, "passed": 1, "failed": 1, "errors": 0, "skipped": 0,
                  "rerun": 1, "deselected": 3, "xfailed": 0, "xpassed": 0, "failures": []}}))
    pathlib.Path(os.environ["TIERS_RESULT_FILE"]).write_text(str(run))
    sys.exit(1)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3]))
from ci.service import Service  # noqa: E402

service = Service()
'''

PYPROJECT = '''[project]
name = "fake-checkout"
version = "0"
[project.optional-dependencies]
local = []
[tool.setuptools]
packages = []
'''


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(ROOT / "noxfile.py", root / "noxfile.py")
    shutil.copytree(ROOT / "ci", root / "ci", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "pyproject.toml").write_text(PYPROJECT)
    svc = root / "services" / "fake"
    (svc / "ci").mkdir(parents=True)
    (svc / "ci" / "tier3.py").write_text(FAKE_TIER3)
    (svc / "tests").mkdir()
    (svc / "tests" / "test_x.py").write_text(
        "def test_ok(): pass\ndef test_bad(): assert 41 == 42\n")
    return root


def test_tier2_reports_tier3s_run_to_github_once(checkout: Path, tmp_path: Path) -> None:
    need(NOX.exists(), "nox next to the test interpreter", "pip install nox")
    summary = tmp_path / "summary.md"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "TIERS_"))}
    env.update({"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "CI": "false",
                "NOX_SCRIPT_MODE": "none"})
    done = subprocess.run([str(NOX), "-s", "integration-fake"], cwd=checkout, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    errors = [line for line in out.splitlines() if line.startswith("::error")]
    run_level = [e for e in errors if e.startswith("::error title=integration-fake::")]
    assert len(run_level) == 1, out
    assert "exit 1 (the suite ran and at least one test failed" in run_level[0]
    assert "artifacts: artifacts/integration/fake/20260101T000000Z/" in run_level[0]
    assert "1 failed, 0 errors of 2 tests" in run_level[0]
    per_test = [e for e in errors if e not in run_level]
    assert len(per_test) == 1 and "file=services/fake/tests/test_x.py,line=2" in per_test[0]
    text = summary.read_text()
    assert "### fake integration tests: failed (exit 1)" in text
    assert "2 total, 1 passed, 1 failed, 0 errors, 0 skipped, 1 rerun, 3 deselected" in text
    assert json.loads((checkout / "artifacts/integration/fake/20260101T000000Z/run.json")
                      .read_text())["exit_code"] == 1
