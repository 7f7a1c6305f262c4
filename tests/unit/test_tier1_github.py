"""GitHub UI output: the job summary and one ::error annotation per failing test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest

from ci import masking
from ci.tier1.failures import FailedTest, read
from ci.tier1.github import annotation, escape_data, escape_property, report_to_github

TEST_FILE = '''\
class TestOrders:
    def test_ok(self):
        assert True

    def test_total(self):
        total = 3
        assert total == 4, "total, wrong: 100%"


def test_setup_breaks(db):
    pass
'''

JUNIT = '''<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="4">
<testcase classname="tests.integration.test_orders.TestOrders" name="test_ok" time="0.01"/>
<testcase classname="tests.integration.test_orders.TestOrders" name="test_total" time="0.02">
<failure message="AssertionError: total, wrong: 100%&#10;assert 3 == 4">self = ...

    def test_total(self):
        total = 3
&gt;       assert total == 4, "total, wrong: 100%"
E       AssertionError: total, wrong: 100%

tests/integration/test_orders.py:7: AssertionError</failure></testcase>
<testcase classname="tests.integration.test_orders" name="test_setup_breaks" time="0">
<error message="failed on setup with &quot;RuntimeError: token sk-SECRET-VALUE-123 rejected&quot;">
E   RuntimeError: token sk-SECRET-VALUE-123 rejected</error></testcase>
<testcase classname="tests.integration.test_orders" name="test_skipped" time="0">
<skipped message="later"/></testcase>
</testsuite></testsuites>
'''

RUN = {"service": "shop", "backend": "local", "exit_code": 1,
       "stages": [{"name": "up", "status": "ok", "seconds": 1.234},
                  {"name": "test", "status": "failed", "seconds": 12.5}],
       "tests": {"total": 4, "passed": 1, "failed": 1, "errors": 1, "skipped": 1}}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    tests = tmp_path / "services" / "shop" / "tests" / "integration"
    tests.mkdir(parents=True)
    (tests / "test_orders.py").write_text(TEST_FILE)
    (tmp_path / "junit.xml").write_text(JUNIT)
    (tmp_path / "run.json").write_text(json.dumps(RUN))
    return tmp_path


@pytest.fixture(autouse=True)
def _secret() -> Iterator[None]:
    masking.masker.register("sk-SECRET-VALUE-123", announce=False)
    yield
    masking.masker.clear()


def test_escaping_follows_github_rules() -> None:
    assert escape_data("a%b\r\nc:d,e") == "a%25b%0D%0Ac:d,e"
    assert escape_property("a%b\r\nc:d,e") == "a%25b%0D%0Ac%3Ad%2Ce"


def test_failures_are_located_from_classname_and_traceback(repo: Path) -> None:
    report = read(repo / "junit.xml", repo, [repo / "services" / "shop"])
    assert (report.counts.total, report.counts.passed, report.counts.failed,
            report.counts.errors, report.counts.skipped) == (4, 1, 1, 1, 1)
    total, setup = report.failures
    assert total.file == "services/shop/tests/integration/test_orders.py"
    assert total.line == 7  # the assertion, from the traceback
    assert total.test_id == "services/shop/tests/integration/test_orders.py::TestOrders::test_total"
    assert setup.kind == "error" and setup.line == 10  # the def line: no traceback line


def test_xunit1_file_and_line_attributes_are_used(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "test_a.py").write_text("def test_a():\n    assert 0\n")
    (tmp_path / "j.xml").write_text(
        '<testsuite><testcase classname="t.test_a" name="test_a" file="t/test_a.py" line="0">'
        '<failure message="boom"/></testcase></testsuite>')
    (failure,) = read(tmp_path / "j.xml", tmp_path).failures
    assert (failure.file, failure.line, failure.test_id) == ("t/test_a.py", 1,
                                                             "t/test_a.py::test_a")
    # ...but the traceback's line (the failing assertion) is more precise.
    (tmp_path / "j.xml").write_text(
        '<testsuite><testcase classname="t.test_a" name="test_a" file="t/test_a.py" line="0">'
        '<failure message="boom">t/test_a.py:2: in test_a\n    assert 0</failure>'
        '</testcase></testsuite>')
    assert read(tmp_path / "j.xml", tmp_path).failures[0].line == 2


def test_unknown_file_still_annotates_without_location() -> None:
    line = annotation(FailedTest("pkg.mod.test_x", "bad", "", "failure"))
    assert line == "::error title=pkg.mod.test_x::bad"


def test_report_writes_summary_and_annotations(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = StringIO()
    report_to_github(repo / "run.json", repo / "junit.xml", repo_root=repo, stream=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "::error file=services/shop/tests/integration/test_orders.py,line=7,"
        "title=services/shop/tests/integration/test_orders.py%3A%3ATestOrders%3A%3Atest_total"
        "::AssertionError: total, wrong: 100%25%0Aassert 3 == 4")
    assert lines[1].startswith("::error file=services/shop/tests/integration/test_orders.py,"
                               "line=10,")
    assert len(lines) == 2

    text = summary.read_text()
    assert text.startswith("earlier step\n### shop integration tests: failed (exit 1)")
    assert "| up | ok | 1.23 |" in text and "| test | failed | 12.50 |" in text
    assert "**Tests:** 4 total, 1 passed, 1 failed, 1 errors, 1 skipped" in text
    assert "TestOrders::test_total" in text and "total, wrong: 100%" in text
    assert "test_setup_breaks" in text
    for written in (text, out.getvalue()):
        assert "sk-SECRET-VALUE-123" not in written
        assert "***" in written


def test_no_junit_uses_run_json_counts_and_never_raises(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = StringIO()
    report_to_github(repo / "run.json", None, repo_root=repo, stream=out)
    assert "**Tests:** 4 total, 1 passed" in summary.read_text()
    assert out.getvalue() == ""
    (repo / "broken.xml").write_text("<testsuite><testcase")
    report_to_github(repo / "missing.json", repo / "broken.xml", repo_root=repo, stream=out)
    assert out.getvalue().count("::warning") == 2


def test_colour_codes_are_stripped_and_short_tracebacks_give_the_line(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_c.py").write_text("def test_c():\n    x = 1\n    assert x == 2\n")
    (tmp_path / "j.xml").write_text(
        '<testsuite><testcase classname="tests.test_c" name="test_c">'
        '<failure message="AssertionError: #x1B[94massert#x1B[0m 1 == 2">'
        "#x1B[1m#x1B[31mtests/test_c.py#x1B[0m:3: in test_c\n    assert x == 2\n"
        "E   AssertionError</failure></testcase></testsuite>")
    (failure,) = read(tmp_path / "j.xml", tmp_path).failures
    assert failure.message == "AssertionError: assert 1 == 2"
    assert "#x1B" not in failure.details
    assert (failure.file, failure.line) == ("tests/test_c.py", 3)
