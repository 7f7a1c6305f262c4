"""The services table as GitHub-flavoured Markdown, for ``$GITHUB_STEP_SUMMARY``.

Cells are masked, then escaped: a pipe would end the cell, a newline the row,
and ``<``/``>``/``&`` would be read as HTML (the step summary renders it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ci.masking import redact

_ESCAPES = {"\\": "\\\\", "|": "\\|", "`": "\\`", "*": "\\*", "_": "\\_", "[": "\\[",
            "]": "\\]", "<": "&lt;", ">": "&gt;", "&": "&amp;"}


def cell(value: Any) -> str:
    text = " ".join(redact(str(value)).split())
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def _tests(row: Mapping[str, Any]) -> str:
    tests = row.get("tests")
    if not tests:
        return "-"
    parts = [f"{tests['passed']} passed"]
    parts += [f"{tests[k]} {k}" for k in ("failed", "errors", "skipped") if tests.get(k)]
    return ", ".join(parts)


def _stages(row: Mapping[str, Any]) -> str:
    return " ".join(f"{s['name']} {float(s['seconds']):.1f}s"
                    + ("" if s["status"] == "ok" else f" ({s['status']})")
                    for s in row.get("stages") or []) or "-"


def render(summary: Mapping[str, Any]) -> str:
    lines = [f"### Integration: {cell(summary.get('status'))} "
             f"(exit {cell(summary.get('exit_code'))})", "",
             "| Service | Status | Backend | Tests | Time | Stages | Run folder |",
             "|---|---|---|---|---|---|---|"]
    for row in summary.get("services") or []:
        first = (row.get("failures") or [{}])[0]
        status = str(row["status"])
        if row.get("error"):
            status += f": {row['error']}"
        elif first.get("test"):
            status += f": {first['test']}"
        elif row.get("notes"):
            status += f": {row['notes'][0]}"
        lines.append("| " + " | ".join(cell(c) for c in (
            row["name"], status, row.get("backend") or "-", _tests(row),
            f"{float(row.get('seconds') or 0):.1f}s", _stages(row),
            row.get("run_dir") or "-")) + " |")
    return "\n".join(lines) + "\n"
