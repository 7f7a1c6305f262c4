"""Every way an integration session ends leaves one run annotation and a step summary."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ci.tier2.github_report import RESULT_FILE_VAR, Ending, read_result_file, report

JUNIT_ONE_FAILURE = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="2" failures="1" errors="0" skipped="0">
<testcase classname="tests.test_x" name="test_ok" time="0.1"/>
<testcase classname="tests.test_x" name="test_bad" time="0.1">
<failure message="assert 1 == 2">tests/test_x.py:3: AssertionError</failure></testcase>
</testsuite></testsuites>
"""


@pytest.fixture
def github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    return summary


def run_annotations(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if line.startswith("::error title=integration-svc::")]


def run_folder(root: Path, run: dict[str, object], junit: str | None = None) -> Path:
    folder = root / "artifacts" / "integration" / "svc" / "20260101T000000Z"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps(run))
    if junit:
        (folder / "junit.xml").write_text(junit)
    return folder


def test_stopped_before_tier3_names_the_error_and_no_artifacts(tmp_path: Path,
                                                               github: Path) -> None:
    out = io.StringIO()
    report(Ending("svc", 2, error="OPENAI_API_KEY: parameter not found"), tmp_path, out)
    [line] = run_annotations(out.getvalue())
    assert "exit 2" in line and "OPENAI_API_KEY: parameter not found" in line
    assert "no artifacts under artifacts/integration/svc/" in line
    assert "svc integration tests: failed (exit 2)" in github.read_text()


def test_tests_failed_gives_one_run_annotation_plus_one_per_failing_test(
        tmp_path: Path, github: Path) -> None:
    folder = run_folder(tmp_path, {
        "service": "svc", "exit_code": 1, "error": None, "stages": [],
        "tests": {"total": 2, "passed": 1, "failed": 1, "errors": 0, "skipped": 0}},
        JUNIT_ONE_FAILURE)
    out = io.StringIO()
    report(Ending("svc", 1, folder), tmp_path, out)
    lines = out.getvalue().splitlines()
    [line] = run_annotations(out.getvalue())
    assert "1 failed, 0 errors of 2 tests" in line
    assert "artifacts: artifacts/integration/svc/20260101T000000Z/" in line
    assert sum(1 for ln in lines if ln.startswith("::error")) == 2  # + test_bad
    assert "svc integration tests: failed (exit 1)" in github.read_text()


def test_infrastructure_error_in_tier3_is_annotated(tmp_path: Path, github: Path) -> None:
    folder = run_folder(tmp_path, {"service": "svc", "exit_code": 3, "stages": [],
                                   "tests": None, "error": "postgres did not come up"})
    out = io.StringIO()
    report(Ending("svc", 3, folder), tmp_path, out)
    [line] = run_annotations(out.getvalue())
    assert "exit 3 (infrastructure error" in line and "postgres did not come up" in line


def test_tier3_crash_without_a_result_is_annotated(tmp_path: Path, github: Path) -> None:
    out = io.StringIO()
    report(Ending("svc", 1), tmp_path, out)
    [line] = run_annotations(out.getvalue())
    assert "without reporting its run folder" in line
    assert github.read_text().startswith("### svc integration tests: failed (exit 1)")


def test_a_pass_writes_a_summary_and_no_annotation(tmp_path: Path, github: Path) -> None:
    folder = run_folder(tmp_path, {"service": "svc", "exit_code": 0, "stages": [],
                                   "error": None, "tests": {"total": 1, "passed": 1}})
    out = io.StringIO()
    report(Ending("svc", 0, folder), tmp_path, out)
    assert "::error" not in out.getvalue()
    assert "svc integration tests: passed" in github.read_text()


def test_nothing_is_written_off_github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    out = io.StringIO()
    report(Ending("svc", 2, error="x"), tmp_path, out)
    assert out.getvalue() == ""


def test_result_file_written_by_a_child_names_its_run_folder(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    result = tmp_path / "result"
    fake_tier3 = (f"import os, pathlib; pathlib.Path(os.environ[{RESULT_FILE_VAR!r}])"
                  f".write_text({str(folder)!r})")
    subprocess.run([sys.executable, "-c", fake_tier3], check=True,
                   env={**os.environ, RESULT_FILE_VAR: str(result)})
    assert read_result_file(result) == folder
    assert read_result_file(tmp_path / "never-written") is None


def test_summary_counts_come_from_run_json_reruns_and_deselected_included(
        tmp_path: Path, github: Path) -> None:
    folder = run_folder(tmp_path, {
        "service": "svc", "exit_code": 1, "error": None, "stages": [],
        "tests": {"total": 2, "passed": 1, "failed": 1, "errors": 0, "skipped": 0,
                  "rerun": 2, "deselected": 27, "xfailed": 0, "xpassed": 0}},
        JUNIT_ONE_FAILURE)
    report(Ending("svc", 1, folder), tmp_path, io.StringIO())
    assert ("**Tests:** 2 total, 1 passed, 1 failed, 0 errors, 0 skipped, 2 rerun, "
            "27 deselected") in github.read_text()


def test_a_pass_without_a_run_folder_is_not_called_a_failure(tmp_path: Path,
                                                              github: Path) -> None:
    out = io.StringIO()
    report(Ending("svc", 0), tmp_path, out)
    assert "::error" not in out.getvalue()
    text = github.read_text()
    assert "svc integration tests: passed" in text and "failed" not in text


def test_annotation_and_summary_never_carry_a_registered_secret(tmp_path: Path,
                                                                github: Path) -> None:
    from ci.masking import masker

    secret = "sk-GITHUBREPORT-9f8e7d6c5b4a"
    masker.register(secret, announce=False)
    folder = run_folder(tmp_path, {"service": "svc", "exit_code": 3, "stages": [],
                                   "tests": None, "error": f"backend said {secret}"})
    out = io.StringIO()
    report(Ending("svc", 3, folder), tmp_path, out)
    report(Ending("svc", 2, error=f"bad value {secret}"), tmp_path, out)
    assert out.getvalue().count("::error title=integration-svc::") == 2
    assert secret not in out.getvalue() and secret not in github.read_text()
