"""A run's result as GitHub shows it: a job summary and one annotation per failing test.

Called by Tier 2 (:mod:`ci.tier2.github_report`) after Tier 3 ends, when
``GITHUB_ACTIONS=true``. Counts come from run.json's ``tests`` object, so the
summary says what the console and run.json say; failures (with their
location and traceback) from junit.xml through :mod:`ci.junit`. The on-call
engineer opening a red run should see, without reading the log: which stage
failed and how long each took, how many tests ran, and each failing test with
its message, pinned to its line in the diff. Everything written passes through
the masker first: a secret in an assertion message must not reach the summary.

Workflow-command escaping follows GitHub's rules: in the message ``%``, CR
and LF are percent-encoded; in properties (file, line, title) also ``:`` and
``,``, which would otherwise end the property.
"""

from __future__ import annotations

import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, TextIO

from ci.junit import FailedTest, JunitReport, read
from ci.masking import redact
from ci.tier1.discovery import repo_root as default_repo_root

RUN_COUNTS = ("passed", "failed", "errors", "skipped", "rerun", "deselected", "xfailed",
              "xpassed")
"""run.json ``tests`` counts shown in the summary (the last four only when non-zero)."""
MAX_MESSAGE = 2000
"""Characters of a failure message kept in an annotation (GitHub truncates anyway)."""
MAX_DETAILS = 6000
"""Characters of a traceback kept per failing test in the summary (its limit is 1 MiB)."""


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(failure: FailedTest) -> str:
    """One ``::error`` line for a failing test (already redacted)."""
    props = []
    if failure.file:
        props.append(f"file={escape_property(redact(failure.file))}")
        if failure.line:
            props.append(f"line={failure.line}")
    props.append(f"title={escape_property(redact(failure.test_id))}")
    message = redact(failure.message)[:MAX_MESSAGE]
    return f"::error {','.join(props)}::{escape_data(message)}"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def summary_markdown(run: dict[str, Any], report: JunitReport | None) -> str:
    """The Markdown appended to ``$GITHUB_STEP_SUMMARY`` (already redacted)."""
    service = run.get("service", "?")
    code = run.get("exit_code")
    verdict = "passed" if code == 0 else f"failed (exit {code})"
    out = [f"### {service} integration tests: {verdict}", ""]
    backend = run.get("backend")
    if backend:
        out += [f"Backend: `{backend}`", ""]
    stages = run.get("stages") or []
    if stages:
        out += ["| stage | status | seconds |", "| --- | --- | ---: |"]
        for stage in stages:
            seconds = float(stage.get("seconds") or 0.0)
            status = stage.get("status", "")
            detail = stage.get("detail")
            out.append(f"| {_cell(stage.get('name', ''))} | {_cell(status)}"
                       f"{' — ' + _cell(detail) if detail else ''} | {seconds:.2f} |")
        out.append("")
    tests = run.get("tests")
    if isinstance(tests, dict):  # run.json's counts: the same figures as the console
        line = ", ".join([f"{int(tests.get('total') or 0)} total"] + [
            f"{int(tests.get(key) or 0)} {key}" for key in RUN_COUNTS
            if key in ("passed", "failed", "errors", "skipped") or tests.get(key)])
        out += [f"**Tests:** {line}", ""]
    elif report:
        c = report.counts
        out += [f"**Tests:** {c.total} total, {c.passed} passed, {c.failed} failed, "
                f"{c.errors} errors, {c.skipped} skipped", ""]
    error = run.get("error")
    if error:
        out += [f"**Error:** {_cell(error)}", ""]
    failures = report.failures if report else ()
    if failures:
        out += ["#### Failing tests", ""]
        for failure in failures:
            where = f" ({failure.file}:{failure.line})" if failure.file else ""
            out += [f"<details><summary><code>{_html(failure.test_id)}</code>{_html(where)}: "
                    f"{_html(failure.message.splitlines()[0] if failure.message else '')}"
                    "</summary>", "", "```text",
                    (failure.details or failure.message)[:MAX_DETAILS].replace("```", "'''"),
                    "```", "</details>", ""]
    return redact("\n".join(out) + "\n")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _bases(root: Path, run: dict[str, Any]) -> list[Path]:
    """Folders a JUnit classname may be relative to: the service's folder, then the root."""
    service = run.get("service")
    return [root / "services" / str(service)] if service else []


def report_to_github(run_json: Path, junit_xml: Path | None, *,
                     repo_root: Path | None = None, stream: TextIO | None = None) -> None:
    """Append the summary to ``$GITHUB_STEP_SUMMARY`` and print one ``::error`` per failing test.

    Never raises for a bad or missing input: reporting must not turn a test
    failure into a crash of the reporter.
    """
    out = stream or sys.stdout
    root = (repo_root or default_repo_root()).resolve()
    try:
        run: dict[str, Any] = json.loads(run_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"::warning title=tiers::cannot read {escape_data(str(run_json))}: "
              f"{escape_data(redact(str(exc)))}", file=out, flush=True)
        run = {}
    report: JunitReport | None = None
    if junit_xml is not None:
        try:
            report = read(junit_xml, root, _bases(root, run))
        except (OSError, ValueError, ET.ParseError) as exc:
            print(f"::warning title=tiers::cannot read {escape_data(str(junit_xml))}: "
                  f"{escape_data(redact(str(exc)))}", file=out, flush=True)
    markdown = summary_markdown(run, report)
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(markdown)
    for failure in report.failures if report else ():
        print(annotation(failure), file=out, flush=True)
