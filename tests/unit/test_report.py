"""summary.json, index.html and the step-summary Markdown from one summary."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from ci import masking
from ci.report import markdown, write_report
from ci.report.html import render


def make_run(base: Path, name: str, exit_code: int, failures: list[dict[str, str]]) -> Path:
    run_dir = base / name / "20261123T100000Z"
    (run_dir / "logs").mkdir(parents=True)
    (run_dir / "htmlcov").mkdir()
    (run_dir / "htmlcov" / "index.html").write_text("<html></html>")
    (run_dir / "junit.xml").write_text("<testsuite/>")
    (run_dir / "logs" / "postgres.log").write_text("ready\n")
    (run_dir / "logs" / "session.log").write_text("whole log\n")
    (run_dir / "run.json").write_text(json.dumps({
        "service": name, "run_id": "abcd1234", "backend": "local", "exit_code": exit_code,
        "stages": [{"name": "up", "status": "ok", "seconds": 0.5},
                   {"name": "test", "status": "failed" if exit_code else "ok", "seconds": 2.0}],
        "tests": {"total": 3, "passed": 3 - len(failures), "failed": len(failures),
                  "errors": 0, "skipped": 0, "failures": failures},
        "error": None}))
    return run_dir


def records(base: Path) -> list[dict[str, object]]:
    ok = make_run(base, "alpha", 0, [])
    bad = make_run(base, "zeta", 1, [{"test": "t.test_pipe", "message": "a|b <script>x</script>"}])
    return [
        {"name": "alpha", "status": "passed", "exit_code": 0, "counted": True,
         "started": "2026-11-23T10:00:00", "offset": 0.0, "seconds": 4.0, "run_dir": ok,
         "log": ok / "logs" / "session.log", "notes": []},
        {"name": "zeta", "status": "failed", "exit_code": 1, "counted": True,
         "started": "2026-11-23T10:00:00", "offset": 0.1, "seconds": 3.0, "run_dir": bad,
         "log": bad / "logs" / "session.log", "notes": []},
        {"name": "mid", "status": "cancelled", "exit_code": 130, "counted": False,
         "started": None, "offset": None, "seconds": 0.0, "run_dir": None, "log": None,
         "notes": ["stopped by --fail-fast"]},
    ]


def test_report_orders_failures_first_and_links_relative(tmp_path: Path) -> None:
    base = tmp_path / "integration"
    lines = write_report(records(base), base, started=dt.datetime.now(dt.UTC), jobs=2,
                         exit_code=1, environ={})
    assert lines == [f"report: {base / 'index.html'}", f"summary: {base / 'summary.json'}"]
    data = json.loads((base / "summary.json").read_text())
    assert [s["name"] for s in data["services"]] == ["zeta", "mid", "alpha"]
    assert data["status"] == "failed" and data["counts"] == {"failed": 1, "cancelled": 1,
                                                              "passed": 1}
    zeta = data["services"][0]
    assert zeta["links"]["junit"] == "zeta/20261123T100000Z/junit.xml"
    assert zeta["links"]["coverage"] == "zeta/20261123T100000Z/htmlcov/index.html"
    assert zeta["links"]["session_log"] == "zeta/20261123T100000Z/logs/session.log"
    assert zeta["tests"] == {"total": 3, "passed": 2, "failed": 1, "errors": 0, "skipped": 0}
    page = (base / "index.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert page.index('data-service="zeta"') < page.index('data-service="alpha"')
    assert 'href="zeta/20261123T100000Z/junit.xml"' in page


def test_secrets_are_redacted_in_every_output(tmp_path: Path) -> None:
    masking.register("s3cr3t-token-value", announce=False)
    try:
        base = tmp_path / "integration"
        recs = records(base)
        recs[0]["notes"] = ["leaked s3cr3t-token-value here"]
        summary_file = tmp_path / "step-summary.md"
        write_report(recs, base, started=dt.datetime.now(dt.UTC), jobs=1, exit_code=1,
                     environ={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary_file)})
        for path, mask in ((base / "summary.json", "***"), (base / "index.html", "***"),
                           (summary_file, "\\*\\*\\*")):
            text = path.read_text()
            assert "s3cr3t-token-value" not in text, path.name
            assert f"leaked {mask} here" in text, path.name
    finally:
        masking.masker.clear()


def test_step_summary_is_appended_only_on_github(tmp_path: Path) -> None:
    base = tmp_path / "integration"
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n")
    recs = records(base)
    write_report(recs, base, started=dt.datetime.now(dt.UTC), jobs=2, exit_code=1,
                 environ={"GITHUB_STEP_SUMMARY": str(target)})
    assert target.read_text() == "earlier step\n"
    write_report(recs, base, started=dt.datetime.now(dt.UTC), jobs=2, exit_code=1,
                 environ={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(target)})
    text = target.read_text()
    assert text.startswith("earlier step\n### Integration: failed (exit 1)")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[1].startswith("| zeta | failed: t.test\\_pipe |")
    assert all(line.count(" | ") == 6 for line in rows)  # seven cells, pipes escaped


@pytest.mark.parametrize("raw, cell", [
    ("a|b", "a\\|b"), ("two\nlines", "two lines"), ("<b>&", "&lt;b&gt;&amp;"),
    ("`code` *x* [l](u)", "\\`code\\` \\*x\\* \\[l\\](u)"),
])
def test_markdown_cells_are_escaped(raw: str, cell: str) -> None:
    assert markdown.cell(raw) == cell


def test_html_timeline_puts_parallel_runs_on_one_axis() -> None:
    page = render({"status": "passed", "exit_code": 0, "jobs": 2, "started": "t", "seconds": 10,
                   "services": [
                       {"name": "a", "status": "passed", "exit_code": 0, "offset": 0,
                        "seconds": 10, "stages": [{"name": "test", "status": "ok",
                                                   "seconds": 5}]},
                       {"name": "b", "status": "passed", "exit_code": 0, "offset": 5,
                        "seconds": 5, "stages": []}]})
    assert "timeline (0 to 10.0s)" in page
    assert 'title="test 5.00s (ok)" style="left:50.00%;width:50.00%' in page
    assert 'title="tier2 5.00s (ok)" style="left:50.00%;width:50.00%' in page


def test_one_runs_table_is_the_same_table(tmp_path: Path) -> None:
    from ci.report import markdown_for_run

    run_dir = make_run(tmp_path / "integration", "solo", 1,
                       [{"test": "t.test_y", "message": "bad"}])
    text = markdown_for_run(run_dir)
    assert text.startswith("### Integration: failed (exit 1)")
    assert "| solo | failed: t.test\\_y | local | 2 passed, 1 failed | 2.5s |" in text
