"""A project's own suite, run from where it lives, with its own pytest configuration.

The project here is what a real one looks like: its own repository (``.git``),
``pyproject.toml`` with ``[tool.pytest.ini_options]`` (markers, a strict
option, its own ``timeout``), tests that read files relative to the project
root and call ``git``, and the runner in ``ci/tier3.py`` beside them. Nothing
of it sits under this checkout's ``services/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.prereqs import need, need_servers

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

PYPROJECT = """
[project]
name = "ledger"
version = "0"

[tool.pytest.ini_options]
addopts = "--strict-markers -p no:randomly"
markers = ["ledger_db: needs the database"]
timeout = 45
testpaths = ["tests"]
"""

TESTS = '''
import os, subprocess
from pathlib import Path
import psycopg
import pytest

@pytest.mark.ledger_db
def test_database_from_env():
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1

def test_runs_from_the_project_root():
    assert Path("fixtures/rates.csv").read_text().startswith("eur,")
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert Path(top).resolve() == Path.cwd().resolve()

def test_project_configuration_is_used(request):
    assert request.config.inipath is not None
    assert request.config.inipath.name == "pyproject.toml"
    assert request.config.getini("timeout") == "45"
'''

RUNNER = '''
from ci import Service, Suite, postgres

service = Service(
    backends=[postgres("ledger_db", database="ledger")],
    migrations=None,
    suite=Suite("tests"),
)

if __name__ == "__main__":
    service.main()
'''


@pytest.fixture(autouse=True)
def _postgres() -> None:
    need_servers("postgres")
    need(shutil.which("git") is not None, "git", "apt-get install git")


def make_project(tmp_path: Path) -> Path:
    project = tmp_path / "elsewhere" / "ledger"
    (project / "tests").mkdir(parents=True)
    (project / "ci").mkdir()
    (project / "fixtures").mkdir()
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "tests" / "test_ledger.py").write_text(textwrap.dedent(TESTS))
    (project / "fixtures" / "rates.csv").write_text("eur,1.0\n")
    (project / "ci" / "tier3.py").write_text(RUNNER)
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    return project


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERS_")}
    env["TIERS_RESULT_CACHE"] = "off"  # every run a test starts runs for real
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, str(project / "ci" / "tier3.py"), "--backend", "local",
                           *args], cwd=project.parent, env=env, capture_output=True, text=True,
                          timeout=180, check=False)


def test_a_project_elsewhere_runs_with_its_own_configuration(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    result = run(project)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert f"pytest: configuration {project / 'pyproject.toml'}" in out
    assert "timeout: 45.0s" in out  # pytest-timeout's header: the project's own timeout
    [art] = sorted((project / "artifacts" / "integration" / "ledger").iterdir())
    data = json.loads((art / "run.json").read_text())
    assert data["tests"]["passed"] == 3 and data["exit_code"] == 0


def test_an_explicit_suite_timeout_says_it_overrides_the_project(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    runner = project / "ci" / "tier3.py"
    runner.write_text(runner.read_text().replace('Suite("tests")', 'Suite("tests", timeout=7)'))
    result = run(project)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "Suite(timeout=7) overrides timeout=45" in out
    assert "timeout: 7.0s" in out  # pytest-timeout's own header: the override applied
