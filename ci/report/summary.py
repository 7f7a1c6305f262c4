"""One dictionary for the whole run (summary.json), built from the run and each run.json.

Every path in it is relative to the folder holding summary.json and
index.html (``artifacts/integration``), so the folder can be uploaded or moved
as one and its links still work. Services are ordered failures first.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ci.exit_codes import ExitCode

SCHEMA = "tiers.integration-summary/1"
RANK: dict[int, int] = {0: 0, 1: 2, 2: 3, 3: 4, 130: 6}
"""Badness for ordering rows: cancelled/not-started services (no code) sit at 1."""
MAX_FAILURES = 10


def _rank(row: Mapping[str, Any]) -> int:
    code = row.get("exit_code")
    if not row.get("counted", True) or code is None:
        return 1
    return RANK.get(int(code), 5)


def _rel(path: Path | None, base: Path) -> str | None:
    if path is None:
        return None
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)


def _read_run_json(run_dir: Path | None) -> dict[str, Any]:
    if run_dir is None:
        return {}
    try:
        data = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def links(run_dir: Path | None, log: Path | None, base: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"run_json": None, "junit": None, "coverage": None,
                           "session_log": _rel(log, base), "logs": []}
    if run_dir is None:
        return out
    for key, rel in (("run_json", "run.json"), ("junit", "junit.xml"),
                     ("coverage", "htmlcov/index.html")):
        if (run_dir / rel).is_file():
            out[key] = _rel(run_dir / rel, base)
    logs = run_dir / "logs"
    if logs.is_dir():
        out["logs"] = [_rel(p, base) for p in sorted(logs.iterdir()) if p.is_file()]
    return out


def service_row(record: Mapping[str, Any], base: Path) -> dict[str, Any]:
    run_dir = record.get("run_dir")
    run = _read_run_json(run_dir)
    tests = run.get("tests") if isinstance(run.get("tests"), dict) else None
    failures = []
    if tests:
        failures = [{"test": str(f.get("test", "")), "message": str(f.get("message", ""))}
                    for f in tests.get("failures", [])[:MAX_FAILURES] if isinstance(f, dict)]
    stages = [{"name": str(s.get("name", "")), "status": str(s.get("status", "")),
               "seconds": float(s.get("seconds", 0.0))}
              for s in run.get("stages", []) if isinstance(s, dict)]
    return {
        "name": record["name"],
        "status": record["status"],
        "exit_code": record.get("exit_code"),
        "counted": bool(record.get("counted", True)),
        "started": record.get("started"),
        "offset": record.get("offset"),
        "seconds": record.get("seconds", 0.0),
        "backend": run.get("backend"),
        "run_id": run.get("run_id"),
        "run_dir": _rel(run_dir, base),
        "links": links(run_dir, record.get("log"), base),
        "stages": stages,
        "tests": ({k: int(tests.get(k, 0)) for k in ("total", "passed", "failed", "errors",
                                                      "skipped")} if tests else None),
        "failures": failures,
        "error": run.get("error"),
        "notes": list(record.get("notes", [])),
    }


def build(records: Sequence[Mapping[str, Any]], base: Path, *, started: dt.datetime,
          jobs: int, exit_code: int, ended: dt.datetime | None = None) -> dict[str, Any]:
    ended = ended or dt.datetime.now(dt.UTC)
    rows = [service_row(r, base) for r in records]
    rows.sort(key=lambda row: (-_rank(row), row["name"]))
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    try:
        status = {0: "passed", 1: "failed", 2: "config error", 3: "infra error",
                  130: "interrupted"}[ExitCode(exit_code)]
    except (ValueError, KeyError):
        status = f"exit {exit_code}"
    return {
        "schema": SCHEMA,
        "status": status,
        "exit_code": exit_code,
        "started": started.isoformat(timespec="seconds"),
        "ended": ended.isoformat(timespec="seconds"),
        "seconds": round((ended - started).total_seconds(), 3),
        "jobs": jobs,
        "counts": counts,
        "services": rows,
    }
