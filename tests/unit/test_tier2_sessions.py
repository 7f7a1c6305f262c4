"""Session registration from discovery, posargs, hand-off, and the import boundary."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ci.service import Service, secret
from ci.tier2.discovery import discover, load_service
from ci.tier2.handoff import child_env, rerun_hint, run_child, tier3_command
from ci.tier2.sessions import split_posargs

ROOT = Path(__file__).resolve().parents[2]


def test_split_posargs_takes_env_before_double_dash() -> None:
    assert split_posargs(["--env", "ci", "--backend", "local", "--", "--env", "x"]) == (
        "ci", ["--backend", "local", "--", "--env", "x"])
    assert split_posargs(["--env=staging"]) == ("staging", [])
    assert split_posargs(["--keep"]) == (None, ["--keep"])


def test_discovery_finds_the_example_and_loads_it() -> None:
    found = {f.name: f for f in discover(ROOT)}
    assert "agent_executor" in found
    service = load_service(found["agent_executor"])
    assert service.name == "agent_executor"
    assert any(v.name == "OPENAI_API_KEY" for v in service.requires)


def test_importing_tier2_pulls_no_runtime_dependency() -> None:
    code = (
        "import sys; import ci, ci.validation, ci.tier2, ci.tier2.sessions, ci.tier2.prepare;"
        "from ci.tier2.discovery import discover, load_service;"
        "[load_service(f) for f in discover(__import__('pathlib').Path('.'))];"
        "heavy = [m for m in ('psycopg', 'docker', 'redis', 'nats', 'boto3', 'dotenv')"
        " if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"


def test_tier3_command_and_rerun_hint_carry_no_secret(tmp_path: Path) -> None:
    svc = tmp_path / "services" / "svc"
    service = Service(root=svc, requires=[secret("KEY")])
    assert tier3_command(service, ["--backend", "local"]) == [
        "python", "services/svc/ci/tier3.py", "--backend", "local"]
    lines = rerun_hint(service, ["--keep"], "ci", ["KEY"], ".nox/integration-svc")
    assert any("TIERS_ENV=ci python services/svc/ci/tier3.py --keep" in line for line in lines)
    env = child_env({"PATH": "/bin"}, {"KEY": "v4lue-secret"}, environment="ci",
                    secret_names=["KEY"], venv="/v")
    assert env["TIERS_SECRET_NAMES"] == "KEY" and env["TIERS_ENV"] == "ci"
    assert env["PATH"].startswith("/v/bin") and env["KEY"] == "v4lue-secret"
    assert not any("v4lue-secret" in line for line in lines)


def test_run_child_passes_the_exit_code_through(tmp_path: Path) -> None:
    assert run_child([sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ),
                     tmp_path) == 3


def test_run_child_forwards_sigterm_and_waits_for_teardown(tmp_path: Path) -> None:
    marker = tmp_path / "torn-down"
    script = (
        "import signal, sys, time, pathlib\n"
        "def bye(*_):\n"
        "    time.sleep(0.3); pathlib.Path(sys.argv[1]).write_text('ok'); sys.exit(130)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n"
    )
    driver = (
        "import os, sys, pathlib\n"
        "from ci.tier2.handoff import run_child\n"
        f"code = run_child([sys.executable, '-c', {script!r}, {str(marker)!r}], "
        "dict(os.environ), pathlib.Path('.'))\n"
        "print('code', code, flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", driver], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert "code 130" in out
    assert marker.read_text() == "ok"


@pytest.mark.skipif(shutil.which("nox") is None and not (Path(sys.executable).parent / "nox")
                    .exists(), reason="nox not installed")
def test_nox_lists_a_new_service_without_touching_the_noxfile(tmp_path: Path) -> None:
    """`services/<new>/ci/tier3.py` alone adds `integration-<new>`: a real `nox -l`."""
    shutil.copy(ROOT / "noxfile.py", tmp_path / "noxfile.py")
    (tmp_path / "ci").symlink_to(ROOT / "ci")
    runner = tmp_path / "services" / "brand_new" / "ci" / "tier3.py"
    runner.parent.mkdir(parents=True)
    runner.write_text('"""Tier 3 for brand_new."""\nraise RuntimeError("not run by nox -l")\n')
    nox = str(Path(sys.executable).parent / "nox")
    out = subprocess.run([nox, "-l"], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "NOX_SCRIPT_MODE": "none"}, check=True).stdout
    assert "integration-brand_new [integration,brand_new] -> " in out
    for name in ("integration ", "tests ", "lint ", "images ", "workflows ", "matrix ",
                 "tier1 "):
        assert f"- {name}" in out or f"* {name}" in out, name


def test_tests_session_lets_pytest_exit_5_fail(tmp_path: Path) -> None:
    """No ``success_codes``: nox fails the session on any non-zero code, 5 included."""
    from types import SimpleNamespace

    from ci.tier2.sessions import _tests

    calls: list[tuple[tuple[str, ...], dict[str, object]]] = []
    (tmp_path / "venv").mkdir()
    (tmp_path / "pyproject.toml").write_text("")
    session = SimpleNamespace(
        posargs=["-k", "x"], virtualenv=SimpleNamespace(location=str(tmp_path / "venv")),
        install=lambda *a: None, run=lambda *a, **kw: calls.append((a, kw)))
    _tests(tmp_path)(session)
    assert calls == [(("pytest", "-k", "x"), {})]


def test_sessions_that_install_nothing_build_no_venv_and_suites_are_tagged() -> None:
    code = (
        "import json, nox\n"
        "from pathlib import Path\n"
        "from ci.tier2.sessions import register\n"
        "register(Path('.').resolve())\n"
        "print(json.dumps({n: [f.venv_backend, f.tags] for n, f in nox.registry.get().items()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    import json

    sessions = json.loads(out)
    for name in ("integration", "images", "workflows", "matrix", "tier1"):
        assert sessions[name] == ["none", []], name  # the aggregate matches no tag
    assert sessions["integration-agent_executor"][1] == ["integration", "agent_executor"]
    assert sessions["tests"][0] is None  # the default: a real venv
