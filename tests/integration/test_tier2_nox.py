"""True `nox -s integration-agent_executor` runs: the exit-2 path and the leak test.

These run nox as a user would (a subprocess from the checkout), so they are
slow on the first run (the session venv is built once, then reused).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.moto_ssm import MotoSSM
from tests.prereqs import need

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PARAMETER = "/zerotouch/prod/agent-executor/openai_api_key"
NOX = Path(sys.executable).parent / "nox"



def clean_env(tmp_path: Path) -> dict[str, str]:
    """The caller's env minus anything AWS, GitHub or Tier-2 related."""
    drop = ("AWS_", "GITHUB_", "TIERS_", "OPENAI_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update({"CI": "true", "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
                "NOX_SCRIPT_MODE": "none", "TIERS_RESULT_CACHE": "off"})
    return env


def nox(args: list[str], env: dict[str, str], timeout: float = 900
        ) -> subprocess.CompletedProcess[str]:
    need(NOX.exists(), "nox next to the test interpreter", "pip install nox")
    return subprocess.run([str(NOX), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)



def test_ci_without_key_or_credentials_exits_2_before_anything_starts(tmp_path: Path) -> None:
    result = nox(["-s", "integration-agent_executor", "--", "--backend", "local"],
                 clean_env(tmp_path))
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert "OPENAI_API_KEY" in out and PARAMETER in out
    assert "no AWS credentials found" in out and "no AWS region" in out
    assert "pip install" not in out  # nothing installed
    assert "[agent_executor] up" not in out and "backend:" not in out  # nothing started


def test_fetched_secret_reaches_tier3_and_leaks_nowhere(tmp_path: Path, moto_ssm: MotoSSM) -> None:
    secret = f"sk-LEAKCHECK-{uuid.uuid4().hex}"
    moto_ssm.put(PARAMETER, secret)
    moto_ssm.reset_recording()
    artifacts = tmp_path / "artifacts"
    env = {**clean_env(tmp_path), **moto_ssm.env(), "TIERS_ARTIFACTS_DIR": str(artifacts)}
    started = time.time()
    result = nox(["-s", "integration-agent_executor", "--", "--backend", "local"], env)
    out = result.stdout + result.stderr

    assert moto_ssm.requests() == ["GetParameters"], "the example's secret is one round trip"
    assert "Parameter Store: 1 value(s) in 1 request(s), 0 retries" in out, out
    assert "[agent_executor] up" in out, out  # Tier 3 really ran with the secret
    runs = list(artifacts.rglob("run.json"))
    assert len(runs) == 1, out
    assert result.returncode == json.loads(runs[0].read_text())["exit_code"]

    assert secret not in out
    written = [p for p in artifacts.rglob("*") if p.is_file()]
    written += [p for p in (ROOT / "artifacts").rglob("*")
                if p.is_file() and p.stat().st_mtime >= started]
    assert written, "Tier 3 wrote no artifacts"
    leaks = [p for p in written if secret.encode() in p.read_bytes()]
    assert leaks == []
    # Last, so a failing suite does not hide a leak: the whole chain passes.
    assert result.returncode == 0, out[-4000:]


def test_a_failing_session_lets_nox_finish_and_keeps_its_exit_code(tmp_path: Path) -> None:
    """Tier 3's exit 2 fails the session the nox way: matrix still runs, summary and
    --report are written, and nox exits 2 (not nox's own 1)."""
    report = tmp_path / "report.json"
    env = {**clean_env(tmp_path), "CI": "false"}
    result = nox(["-s", "integration-agent_executor", "matrix", "--report", str(report),
                  "--", "--only", "bogus"], env)
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert "unknown stage(s) bogus" in out
    assert '{"service":["agent_executor","inventory"]}' in out, \
        "matrix did not run after the failure"
    assert "Ran 2 sessions" in out, "nox printed no summary"
    sessions = {s["name"]: s["result"] for s in json.loads(report.read_text())["sessions"]}
    assert sessions == {"integration-agent_executor": "aborted", "matrix": "success"}


def test_on_github_a_tier2_failure_leaves_one_annotation_and_a_summary(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    env = {**clean_env(tmp_path), "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    result = nox(["-s", "integration-agent_executor", "--", "--backend", "local"], env)
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    errors = [line for line in out.splitlines() if line.startswith("::error")]
    assert len(errors) == 1, out
    assert "integration-agent_executor failed: exit 2" in errors[0]
    assert "OPENAI_API_KEY" in errors[0] and "no artifacts under" in errors[0]
    assert "agent_executor integration tests: failed (exit 2)" in summary.read_text()


def test_tags_select_every_suite_and_k_never_runs_one_twice(tmp_path: Path) -> None:
    env = {**clean_env(tmp_path), "CI": "false"}
    listed = nox(["-l", "--json", "-t", "integration"], env)
    sessions = json.loads(listed.stdout)
    services = {p.parent.parent.name for p in (ROOT / "services").glob("*/ci/tier3.py")}
    assert {s["name"] for s in sessions} == {f"integration-{name}" for name in services}
    assert all(s["tags"] == ["integration", s["name"].removeprefix("integration-")]
               for s in sessions)

    result = nox(["-k", "integration", "--", "--only", "bogus"], env)
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    for name in services:
        assert out.count(f"[{name}] error: --only: unknown stage(s) bogus") == 1, \
            f"{name} ran twice or never"
        assert f"integration-{name}: selected on its own in this nox run" in out


@pytest.mark.parametrize(("args", "extra"), [(["--", "--env", "stagign"], {}),
                                             ([], {"TIERS_ENV": "prdo"})])
def test_a_misspelt_environment_exits_2_listing_those_that_exist(
        tmp_path: Path, args: list[str], extra: dict[str, str]) -> None:
    env = {**clean_env(tmp_path), "CI": "false", **extra}
    result = nox(["-s", "integration-agent_executor", *args], env)
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert "does not exist (from --env or TIERS_ENV); environments: ci, local" in out
    assert "pip install" not in out and "Tier 3 command" not in out.split("environments:")[1]
