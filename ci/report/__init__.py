"""The report of a multi-service run: summary.json, index.html and the GitHub step summary.

``summary.build`` turns what the run recorded (plus each service's run.json)
into one dictionary; ``html`` and ``markdown`` only render that dictionary, so
the three outputs cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ci.masking import redact
from ci.report import html, markdown, summary


def write_report(records: Sequence[Mapping[str, Any]], base: Path, *, started: dt.datetime,
                 jobs: int, exit_code: int,
                 environ: Mapping[str, str] | None = None) -> list[str]:
    """Write ``base/summary.json`` and ``base/index.html``; returns lines to print."""
    env = os.environ if environ is None else environ
    data = summary.build(records, base, started=started, jobs=jobs, exit_code=exit_code)
    base.mkdir(parents=True, exist_ok=True)
    summary_path = base / "summary.json"
    summary_path.write_text(redact(json.dumps(data, indent=2)) + "\n", encoding="utf-8")
    index = base / "index.html"
    index.write_text(html.render(data), encoding="utf-8")
    lines = [f"report: {index}", f"summary: {summary_path}"]
    step_summary = env.get("GITHUB_STEP_SUMMARY")
    if env.get("GITHUB_ACTIONS") == "true" and step_summary:
        with open(step_summary, "a", encoding="utf-8") as fh:
            fh.write(markdown.render(data) + "\n")
        lines.append("step summary: appended the services table")
    return lines


def markdown_for_run(run_dir: Path, *, seconds: float | None = None) -> str:
    """The same Markdown table for one service's run (a matrix job's step summary)."""
    run = summary._read_run_json(run_dir)
    code = run.get("exit_code")
    status = {0: "passed", 1: "failed", 2: "config error", 3: "infra error",
              130: "interrupted"}.get(code if isinstance(code, int) else -1, f"exit {code}")
    base = run_dir.parent.parent
    if seconds is None:
        seconds = sum(float(s.get("seconds", 0)) for s in run.get("stages", [])
                      if isinstance(s, dict))
    record = {"name": run.get("service", run_dir.parent.name), "status": status,
              "exit_code": code, "counted": True, "offset": 0.0, "seconds": seconds,
              "run_dir": run_dir, "log": None, "notes": []}
    data = summary.build([record], base, started=dt.datetime.now(dt.UTC), jobs=1,
                         exit_code=code if isinstance(code, int) else 3)
    return markdown.render(data)


__all__ = ["markdown_for_run", "write_report"]
