"""pytest's own counts (the tiers_counts plugin) and the JUnit reader agree on reruns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ci.junit import read, read_junit

ROOT = Path(__file__).resolve().parents[2]

SUITE = '''
import pathlib, pytest
def test_flaky():
    p = pathlib.Path(__file__).with_name("attempts")
    n = int(p.read_text()) if p.exists() else 0
    p.write_text(str(n + 1))
    assert n >= 1, "first attempt fails"
def test_ok(): pass
def test_deselected_one(): pass
def test_deselected_two(): pass
def test_fails(): assert 1 == 2
@pytest.mark.skip(reason="no")
def test_skipped(): pass
@pytest.mark.xfail(strict=False)
def test_xfail(): assert 0
@pytest.mark.xfail(strict=False)
def test_xpass(): pass
'''


def test_counts_match_pytest_summary_with_deselection_and_reruns(tmp_path: Path) -> None:
    (tmp_path / "test_suite.py").write_text(SUITE)
    counts_file = tmp_path / "out" / "counts.json"
    junit = tmp_path / "junit.xml"
    env = {**os.environ, "TIERS_PYTEST_COUNTS": str(counts_file),
           "PYTHONPATH": str(ROOT / "ci" / "tier3" / "pytest_plugins")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tiers_counts", "-p", "no:cacheprovider",
         "-k", "not deselected", "--reruns", "1", f"--junitxml={junit}", "-q",
         "test_suite.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert "1 failed, 2 passed, 1 skipped, 2 deselected, 1 xfailed, 1 xpassed, 2 rerun" in last
    counts = json.loads(counts_file.read_text())
    assert counts == {"passed": 2, "failed": 1, "error": 0, "skipped": 1, "xfailed": 1,
                      "xpassed": 1, "rerun": 2, "deselected": 2, "exitstatus": 1}

    report = read(junit, tmp_path)
    assert report.counts.rerun == 2, "a failed attempt must not count as a pass"
    assert report.counts.failed == 1
    # JUnit has no xpass/xfail categories: xfailed reads as skipped, xpassed as passed.
    assert report.counts.passed == 3 and report.counts.skipped == 2
    [failure] = report.failures
    assert failure.test_id == "test_suite.py::test_fails" and failure.line == 11

    merged = read_junit(junit, tmp_path).with_pytest_counts(counts_file)  # type: ignore[union-attr]
    assert (merged.total, merged.passed, merged.failed, merged.skipped, merged.rerun,
            merged.deselected, merged.xfailed, merged.xpassed) == (6, 2, 1, 1, 2, 2, 1, 1)
    assert merged.summary() == ("2 passed, 1 failed, 1 skipped, 2 rerun, 2 deselected, "
                                "1 xfailed, 1 xpassed")
    assert [f.test_id for f in merged.failures] == ["test_suite.py::test_fails"]
    assert merged.to_json()["failures"][0]["line"] == 11


def test_without_the_variable_nothing_is_written(tmp_path: Path) -> None:
    (tmp_path / "test_one.py").write_text("def test_one(): pass\n")
    env = {k: v for k, v in os.environ.items() if k != "TIERS_PYTEST_COUNTS"}
    env["PYTHONPATH"] = str(ROOT / "ci" / "tier3" / "pytest_plugins")
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "tiers_counts", "-q",
                           "-p", "no:cacheprovider", "test_one.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0
    # Python's own bytecode cache is there or not, as PYTHONDONTWRITEBYTECODE says.
    written = sorted(p.name for p in tmp_path.iterdir() if p.name != "__pycache__")
    assert written == ["test_one.py"]
