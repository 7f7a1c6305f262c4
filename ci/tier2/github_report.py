"""What GitHub shows after Tier 2 ends: one run annotation and a step summary, on every path.

Tier 2 is the last framework code a workflow runs, so it (not Tier 3) reports
to GitHub: whether it stopped before Tier 3 (bad environment, Parameter Store
down, install failed), Tier 3 crashed without a result, or Tier 3 finished.
Tier 3 tells Tier 2 where its run folder is by writing the folder's absolute
path into the file named by ``TIERS_RESULT_FILE``; Tier 2 then reads run.json
and junit.xml from there. The on-call engineer opening a red run gets exactly
one ``::error`` that says what failed and where the evidence is (plus one per
failing test, pinned to its line), and a summary, never a bare red step.
Everything written passes through the masker (Tier 2 registered the secrets).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ci.console import on_github
from ci.masking import redact
from ci.tier1.github import escape_data, escape_property, report_to_github
from ci.tier1.workflows import artifacts_dir
from ci.tier2.outcome import meaning

RESULT_FILE_VAR = "TIERS_RESULT_FILE"
"""Env var naming the file where Tier 3 writes the absolute path of its run folder."""


@dataclass(frozen=True)
class Ending:
    """How one ``integration-<service>`` session ended, as Tier 2 saw it."""

    service: str
    code: int
    run_folder: Path | None = None
    """Tier 3's run folder, when Tier 3 reported one."""
    error: str | None = None
    """Why Tier 2 stopped before Tier 3 (its error message), if it did."""


def read_result_file(path: Path) -> Path | None:
    """The run folder Tier 3 wrote into ``path``, or None when it wrote none that exists."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    folder = Path(text) if text else None
    return folder if folder is not None and folder.is_dir() else None


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix() + "/"
    except ValueError:
        return str(path) + "/"


def _load_run(folder: Path | None) -> dict[str, Any]:
    if folder is None:
        return {}
    try:
        data = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def headline(ending: Ending, run: dict[str, Any], repo_root: Path) -> str:
    """The one run annotation's text: what failed, why, and where the artifacts are."""
    verdict = "passed" if ending.code == 0 else "failed"
    what = f"integration-{ending.service} {verdict}: exit {ending.code} ({meaning(ending.code)})"
    reason = ending.error or run.get("error")
    tests = run.get("tests")
    if not reason and isinstance(tests, dict):
        reason = (f"{tests.get('failed', 0)} failed, {tests.get('errors', 0)} errors of "
                  f"{tests.get('total', 0)} tests")
    if not reason and ending.run_folder is None and ending.code != 0:
        reason = "Tier 3 ended without reporting its run folder (it crashed or was killed)"
    if ending.run_folder is not None:
        where = (f"artifacts: {_relative(ending.run_folder, repo_root)} (uploaded as "
                 f"'{ending.service}-integration')")
    else:
        where = (f"no artifacts under {artifacts_dir(ending.service)}: Tier 3 wrote none; "
                 "the job log above has Tier 2's full message")
    return f"{what}: {reason}. {where}" if reason else f"{what}. {where}"


def _fallback_summary(ending: Ending, text: str) -> str:
    verdict = "passed" if ending.code == 0 else f"failed (exit {ending.code})"
    return (f"### {ending.service} integration tests: {verdict}\n\n"
            f"{text.replace('|', chr(92) + '|')}\n")


def report(ending: Ending, repo_root: Path, stream: TextIO | None = None) -> None:
    """On GitHub Actions: step summary, per-test annotations, and one run annotation."""
    if not on_github():
        return
    out = stream or sys.stdout
    run = _load_run(ending.run_folder)
    text = redact(headline(ending, run, repo_root))
    if ending.run_folder is not None and run:
        junit = ending.run_folder / "junit.xml"
        report_to_github(ending.run_folder / "run.json", junit if junit.is_file() else None,
                         repo_root=repo_root, stream=out)
    else:
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(redact(_fallback_summary(ending, text)))
    if ending.code != 0:
        title = escape_property(f"integration-{ending.service}")
        print(f"::error title={title}::{escape_data(text)}", file=out, flush=True)
