"""The generated workflows pass GitHub's workflow schema and zizmor's audit.

Both tools are real binaries (the ``dev`` extra installs them); a missing one
skips locally and fails under ``CI=true``.
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

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
STAND_INS = sorted((ROOT / "ci" / "tier1" / "stand_ins").glob("*/action.yml"))
SEVERITIES = ("Unknown", "Informational", "Low", "Medium", "High")

pytestmark = pytest.mark.integration


def tool(name: str) -> str:
    """``name`` beside this interpreter (the venv) or on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() and os.access(beside, os.X_OK) else shutil.which(name)
    need(found is not None, name, "pip install -e '.[dev]'")
    assert found is not None
    return found


def test_there_are_workflows_to_check() -> None:
    assert len(WORKFLOWS) >= 3
    assert len(STAND_INS) == 4


def test_workflows_match_the_github_workflow_schema() -> None:
    result = subprocess.run([tool("check-jsonschema"), "--builtin-schema",
                             "vendor.github-workflows", *map(str, WORKFLOWS)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_stand_in_actions_match_the_github_action_schema() -> None:
    result = subprocess.run([tool("check-jsonschema"), "--builtin-schema",
                             "vendor.github-actions", *map(str, STAND_INS)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_can_fail(tmp_path: Path) -> None:
    """The schema check is not vacuous: a workflow without jobs is rejected."""
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\non: push\n")
    result = subprocess.run([tool("check-jsonschema"), "--builtin-schema",
                             "vendor.github-workflows", str(bad)],
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0


def _zizmor(*paths: Path) -> list[dict[str, object]]:
    result = subprocess.run([tool("zizmor"), "--offline", "--format", "json", *map(str, paths)],
                            capture_output=True, text=True, check=False)
    assert result.stdout.strip(), result.stderr
    findings: list[dict[str, object]] = json.loads(result.stdout)
    return findings


def _medium_or_worse(findings: list[dict[str, object]]) -> list[str]:
    bad = []
    for f in findings:
        severity = str(f["determinations"]["severity"])  # type: ignore[index]
        if SEVERITIES.index(severity) >= SEVERITIES.index("Medium"):
            where = f["locations"][0]["symbolic"]["key"]  # type: ignore[index]
            bad.append(f"{f['ident']} ({severity}): {f['desc']} in {where}")
    return bad


def test_zizmor_finds_nothing_medium_or_worse() -> None:
    assert _medium_or_worse(_zizmor(*WORKFLOWS)) == []


def test_zizmor_audit_can_fail(tmp_path: Path) -> None:
    """zizmor really audits: an unpinned action with a template in run: is flagged."""
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "name: bad\non: pull_request_target\npermissions: {}\njobs:\n  j:\n"
        "    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n")
    assert _medium_or_worse(_zizmor(bad))


def test_zizmor_auditor_persona_reports_nothing() -> None:
    """The strictest persona: every finding, whatever its severity or confidence."""
    result = subprocess.run([tool("zizmor"), "--offline", "--persona", "auditor", "--format",
                             "json", *map(str, WORKFLOWS)],
                            capture_output=True, text=True, check=False)
    findings = json.loads(result.stdout)
    assert [f"{f['ident']}: {f['desc']}" for f in findings] == []


def test_zizmor_auditor_flags_a_secret_outside_an_environment(tmp_path: Path) -> None:
    """The auditor check can fail: the role ARN as a secret in a job without environment."""
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    text = (ROOT / ".github" / "workflows" / "agent_executor-integration-tests.yml").read_text()
    text = text.replace("vars.AWS_ROLE_ARN", "secrets.AWS_ROLE_ARN")
    text = "\n".join(line for line in text.splitlines()
                     if not line.strip().startswith("environment:")) + "\n"
    bad.write_text(text)
    result = subprocess.run([tool("zizmor"), "--offline", "--persona", "auditor", "--format",
                             "json", str(bad)], capture_output=True, text=True, check=False)
    assert "secrets-outside-env" in {f["ident"] for f in json.loads(result.stdout)}
