"""Which pytest configuration a service's suite runs with, and the command line built from it.

The suite must run as its own developers run it: their ``[tool.pytest.ini_options]``
(timeout included) is adopted, and this framework's own settings never are.
"""

from __future__ import annotations

import os
from pathlib import Path

from ci.service import Service, Suite
from ci.tier3.suite import DEFAULT_TIMEOUT, project_config, pytest_argv

FRAMEWORK_PYPROJECT = """[project]
name = "tiers"
[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = "-ra --strict-markers"
timeout = 999
"""


def checkout(tmp_path: Path, *, framework: bool = False) -> Path:
    root = tmp_path / "checkout"
    (root / "services" / "svc" / "tests").mkdir(parents=True)
    if framework:
        (root / "ci").mkdir()
        (root / "pyproject.toml").write_text(FRAMEWORK_PYPROJECT)
    return root


def svc(root: Path, **kwargs: object) -> Service:
    return Service(root=root / "services" / "svc", suite=Suite("tests", **kwargs))  # type: ignore[arg-type]


def timeouts(argv: list[str]) -> list[str]:
    return [a for a in argv if a.startswith("--timeout")]


def test_project_pyproject_is_adopted_with_its_timeout(tmp_path: Path) -> None:
    root = checkout(tmp_path, framework=True)
    own = root / "services" / "svc" / "pyproject.toml"
    own.write_text('[project]\nname = "svc"\n[tool.pytest.ini_options]\ntimeout = 17\n'
                   'addopts = "-p no:warnings"\n')
    config = project_config(svc(root))
    assert config.path == own and config.rootdir == own.parent and config.timeout == "17"
    argv, notes = pytest_argv(svc(root), tmp_path / "art", [], config)
    assert timeouts(argv) == [], "the project's own timeout applies, ours is not added"
    assert "-c" not in argv
    assert any(str(own) in n for n in notes)


def test_suite_timeout_overrides_the_projects_and_says_so(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    (root / "services" / "svc" / "pytest.ini").write_text("[pytest]\ntimeout = 17\n")
    service = svc(root, timeout=5)
    argv, notes = pytest_argv(service, tmp_path / "art", ["-k", "x"], project_config(service))
    assert timeouts(argv) == ["--timeout=5"]
    assert any("overrides timeout=17" in n for n in notes)
    assert argv[-2:] == ["-k", "x"], "extra args come last so they win"


def test_no_configuration_gets_an_empty_one_and_the_default_timeout(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    service = svc(root)
    config = project_config(service)
    assert config.path is None and config.rootdir == service.directory
    argv, _ = pytest_argv(service, tmp_path / "art", [], config)
    assert timeouts(argv) == [f"--timeout={DEFAULT_TIMEOUT}"]
    i = argv.index("-c")
    assert argv[i + 1] == os.devnull and f"--rootdir={service.directory}" in argv


def test_the_frameworks_own_configuration_is_never_adopted(tmp_path: Path) -> None:
    root = checkout(tmp_path, framework=True)
    config = project_config(svc(root))
    assert config.path is None and config.timeout is None
    argv, _ = pytest_argv(svc(root), tmp_path / "art", [], config)
    assert "--timeout=999" not in argv and "-c" in argv


def test_a_parent_projects_configuration_is_adopted_from_its_root(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    (root / "tox.ini").write_text("[tox]\n[pytest]\ntimeout = 42\n")
    (root / "setup.cfg").write_text("[metadata]\nname = x\n")  # no pytest section: skipped
    (root / "services" / "svc" / "setup.cfg").write_text("[metadata]\nname = svc\n")
    config = project_config(svc(root))
    assert config.path == root / "tox.ini" and config.rootdir == root and config.timeout == "42"


def test_pyproject_without_a_pytest_section_is_not_a_configuration(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    (root / "services" / "svc" / "pyproject.toml").write_text('[project]\nname = "svc"\n')
    (root / "services" / "svc" / "setup.cfg").write_text("[tool:pytest]\nmarkers = a\n")
    config = project_config(svc(root))
    assert config.path == root / "services" / "svc" / "setup.cfg"


def test_artifacts_and_coverage_go_to_the_run_folder(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    service = svc(root, cov="app")
    art = tmp_path / "art"
    argv, _ = pytest_argv(service, art, [], project_config(service))
    assert f"--junitxml={art / 'junit.xml'}" in argv
    assert "--cov=app" in argv and f"--cov-report=xml:{art / 'coverage.xml'}" in argv
    assert str((service.directory / "tests").resolve()) in argv
