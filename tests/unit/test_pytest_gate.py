"""The held pytest (``tiers_gate``): nothing collected before the gate opens, the
suite sees the released environment, and preloading changes no outcome.

Real pytest subprocesses on a throwaway project; no backends.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ci.tier3.suite import PytestProcess

CONFTEST = """
import json, os, pathlib, sys
pathlib.Path(os.environ["MARKS"], "conftest").write_text(
    json.dumps({"preloaded": "gate_heavy" in sys.modules}))
"""

TEST = """
import json, os, pathlib
def test_sees_released_env():
    pathlib.Path(os.environ["MARKS"], "test").write_text(os.environ.get("GATE_VAR", "unset"))
"""

HEAVY = """
import os, pathlib
pathlib.Path(os.environ["MARKS"], "heavy").write_text("imported")
"""

WARNS = """
import os, pathlib, warnings
pathlib.Path(os.environ["MARKS"], "warns").write_text("imported")
warnings.warn("gate_warns is deprecated", DeprecationWarning, stacklevel=1)
"""


def _project(tmp_path: Path, *, strict: bool = False) -> tuple[Path, Path, dict[str, str]]:
    proj, lib, marks = tmp_path / "proj", tmp_path / "lib", tmp_path / "marks"
    for d in (proj, lib, marks):
        d.mkdir()
    (proj / "conftest.py").write_text(CONFTEST)
    (proj / "test_gate.py").write_text(TEST)
    (proj / "pytest.ini").write_text(
        "[pytest]\n" + ("filterwarnings =\n    error\n" if strict else ""))
    (lib / "gate_heavy.py").write_text(HEAVY)
    (lib / "gate_warns.py").write_text(WARNS)
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(lib), "MARKS": str(marks),
           "PYTHONDONTWRITEBYTECODE": "1"}
    return proj, marks, env


def _start(proj: Path, env: dict[str, str], tmp_path: Path, preload: list[str],
           extra: list[str] | None = None) -> PytestProcess:
    argv = [sys.executable, "-m", "pytest", str(proj), "-q", "-p", "no:cacheprovider",
            *(extra or [])]
    return PytestProcess(argv, env, proj, tmp_path / "pytest.log", gated=True,
                         preload=preload)


def _wait_for(path: Path, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


def test_nothing_is_collected_until_the_gate_opens_and_the_suite_sees_its_env(
        tmp_path: Path) -> None:
    proj, marks, env = _project(tmp_path)
    proc = _start(proj, env, tmp_path, preload=["gate_heavy"])
    _wait_for(marks / "heavy")  # preloaded while the gate is shut
    time.sleep(0.3)
    assert not (marks / "conftest").exists(), "collection started before the gate opened"
    proc.release({**env, "GATE_VAR": "released"})
    result = proc.wait("run-gate", None)
    assert result.code == 0, (tmp_path / "pytest.log").read_text()
    assert (marks / "test").read_text() == "released"
    assert (marks / "conftest").read_text() == '{"preloaded": true}'


def test_no_preload_once_the_gate_is_open(tmp_path: Path) -> None:
    """Backends ready before pytest reached its gate: preloading would only delay it."""
    proj, marks, env = _project(tmp_path)
    proc = _start(proj, env, tmp_path, preload=["gate_heavy"])
    proc.release({**env, "GATE_VAR": "early"})  # long before pytest reaches the hook
    assert proc.wait("run-gate", None).code == 0, (tmp_path / "pytest.log").read_text()
    assert not (marks / "heavy").exists()
    assert (marks / "conftest").read_text() == '{"preloaded": false}'


def test_a_preload_that_warns_fails_collection_as_it_would_without_preloading(
        tmp_path: Path) -> None:
    """``filterwarnings = error``: the import-time warning still fails the suite."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    codes = []
    for sub, preload in (("a", []), ("b", ["gate_warns"])):
        proj, marks, env = _project(tmp_path / sub, strict=True)
        (proj / "test_gate.py").write_text("import gate_warns\n" + TEST)
        proc = _start(proj, env, tmp_path / sub, preload=preload)
        if preload:
            _wait_for(marks / "warns")  # the preload ran into the warning
        proc.release(env)
        codes.append(proc.wait("run-gate", None).code)
        log = (tmp_path / sub / "pytest.log").read_text()
        assert "gate_warns is deprecated" in log, log
    assert codes == [2, 2]


def test_a_closed_gate_ends_pytest_without_running_anything(tmp_path: Path) -> None:
    proj, marks, env = _project(tmp_path)
    proc = _start(proj, env, tmp_path, preload=[])
    started = time.monotonic()
    proc.abandon()
    assert proc.proc.poll() is not None
    assert time.monotonic() - started < 5.0
    assert not (marks / "conftest").exists() and not (marks / "test").exists()
