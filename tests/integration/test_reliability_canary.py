"""A canary secret printed by failing tests is found in 0 places afterwards.

The secret reaches Tier 3 as Tier 2 hands it over (in the environment, its
name in ``TIERS_SECRET_NAMES``; the name itself does not look secret), in CI
mode on GitHub Actions. The suite prints it whole, shortened by pytest's
reprs, to stderr and through logging, in a failing assertion. Then every place
it could reach is searched for any piece of it of 8 characters or more:
stdout, stderr, every file under the artifacts folder, and the step summary
and annotations the GitHub report writes from those artifacts in a later step
(which does not know the secret).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.integration.reliability import ROOT, Run, base_env, make_checkout
from tests.integration.test_reliability_death import backend  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

PRINTS_THE_SECRET = '''
import logging, os, sys
from faults_app import token_length

SECRET = os.environ["FAULTS_CANARY_VALUE"]

def test_full_value():
    print("full:", SECRET)
    sys.stderr.write(f"stderr: {SECRET}\\n")
    logging.getLogger("faults").error("logged: %s", SECRET)
    assert SECRET == "something else"

def test_shortened_by_pytest():
    assert token_length(SECRET + "-" + "x" * 300) == 0

def test_inside_a_structure():
    assert {"api_key": SECRET, "model": "m" * 80} == {}
'''

FRAGMENT = 8


def pieces(secret: str, text: str) -> list[str]:
    return sorted({secret[i:i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1)
                   if secret[i:i + FRAGMENT] in text})


def test_a_canary_secret_is_found_nowhere(tmp_path: Path,
                                          backend: tuple[str, object]) -> None:  # noqa: F811
    name, _cli = backend
    secret = f"sk-CANARY-{uuid.uuid4().hex}{uuid.uuid4().hex[:8]}"
    co = make_checkout(tmp_path, PRINTS_THE_SECRET, cov=True)
    summary = tmp_path / "step-summary.md"
    env = base_env(CI="true", GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary),
                   FAULTS_CANARY_VALUE=secret, TIERS_SECRET_NAMES="FAULTS_CANARY_VALUE")
    run = Run(co, name, env=env, stderr_apart=True)
    code = run.finish()
    stdout = run.output
    assert code == 1, stdout + run.stderr
    assert "3 failed" in stdout, stdout
    assert "..." in stdout and "***" in stdout, "pytest shortened the value and it was masked"
    # ::add-mask:: is how a value is hidden on GitHub: the runner never prints that line.
    announced = [line for line in stdout.splitlines() if line.startswith("::add-mask::")]
    assert announced == [f"::add-mask::{secret}"]
    stdout = "\n".join(line for line in stdout.splitlines() if not line.startswith("::add-mask"))

    [art] = co.artifacts()
    files = [p for p in art.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"run.json", "junit.xml", "coverage.xml", "pytest.log", "index.html"} <= names, names

    report = subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path; "
         "from ci.tier1.github import report_to_github; "
         "report_to_github(Path(sys.argv[1]) / 'run.json', Path(sys.argv[1]) / 'junit.xml', "
         "repo_root=Path(sys.argv[2]))", str(art), str(co.root)],
        env={**base_env(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary)),
             "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, check=True)
    annotations = [line for line in report.stdout.splitlines() if line.startswith("::error")]
    assert len(annotations) == 3, report.stdout
    assert summary.read_text().strip(), "the step summary was written"

    places = {"stdout": stdout, "stderr": run.stderr, "step summary": summary.read_text(),
              "annotations": report.stdout + report.stderr}
    for path in files:
        places[str(path.relative_to(art))] = path.read_bytes().decode("utf-8", "replace")
    found = {where: pieces(secret, text) for where, text in places.items()}
    assert {where: p for where, p in found.items() if p} == {}
