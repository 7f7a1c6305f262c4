"""Install skipping: pip is not called again until an input changes."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ci.tier2.install import ensure_installed, requirement_files


class FakeSession:
    def __init__(self, venv: Path) -> None:
        self.virtualenv = SimpleNamespace(location=str(venv))
        self.installs: list[tuple[str, ...]] = []

    def install(self, *args: Any) -> None:
        self.installs.append(args)


def test_second_install_is_skipped_until_an_input_changes(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "svc").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname='x'\n")
    (root / "svc" / "requirements.txt").write_text("-r base.txt\nredis\n")
    (root / "svc" / "base.txt").write_text("psycopg\n")
    session = FakeSession(tmp_path / "venv")
    (tmp_path / "venv").mkdir()
    args = ["-e", ".[local]", "-r", str(root / "svc" / "requirements.txt")]

    first = ensure_installed(session, args, root)
    second = ensure_installed(session, args, root)
    assert not first.skipped and second.skipped
    assert len(session.installs) == 1
    assert second.seconds < 0.5

    (root / "svc" / "base.txt").write_text("psycopg>=3\n")  # an included file changed
    assert not ensure_installed(session, args, root).skipped
    (root / "pyproject.toml").write_text("[project]\nname='y'\n")
    assert not ensure_installed(session, args, root).skipped
    assert not ensure_installed(session, [*args, "extra"], root).skipped
    assert len(session.installs) == 4


def test_requirement_files_follow_includes(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("-r b.txt\n-c c.txt\n")
    (tmp_path / "b.txt").write_text("-r a.txt\n")  # a cycle must not loop
    files = requirement_files(["-r", "a.txt"], tmp_path)
    assert [f.name for f in files] == ["a.txt", "b.txt", "c.txt"]


def test_every_input_of_the_install_is_hashed(tmp_path: Path) -> None:
    """A service's own pyproject (its dependency groups), lock files, an editable
    project's files and the framework's pyproject each invalidate the stamp."""
    root = tmp_path / "repo"
    svc = root / "services" / "svc"
    lib = root / "lib"
    svc.mkdir(parents=True)
    lib.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname='framework'\n")
    (svc / "requirements.txt").write_text("redis\n-e ../../vendored  # a local package\n")
    (svc / "pyproject.toml").write_text("[dependency-groups]\ntest = ['pytest']\n")
    (root / "vendored").mkdir()
    (root / "vendored" / "pyproject.toml").write_text("[project]\nname='v'\n")
    (lib / "setup.cfg").write_text("[metadata]\nname=lib\n")
    (tmp_path / "venv").mkdir()
    session = FakeSession(tmp_path / "venv")
    args = ["-e", ".[local]", "-e", "lib", "-r", str(svc / "requirements.txt")]

    def installs_again() -> bool:
        return not ensure_installed(session, args, root, watch=[svc]).skipped

    assert installs_again()
    assert not installs_again()
    changes = [
        (svc / "pyproject.toml", "[dependency-groups]\ntest = ['pytest', 'httpx']\n"),
        (svc / "uv.lock", "version = 1\n"),
        (root / "vendored" / "pyproject.toml", "[project]\nname='v'\ndependencies=['x']\n"),
        (svc / "requirements.txt", "redis>=5\n-e ../../vendored\n"),
        (lib / "setup.cfg", "[metadata]\nname=lib\nversion=2\n"),
        (root / "uv.lock", "version = 1\n"),
        (root / "pyproject.toml", "[project]\nname='framework'\nversion='2'\n"),
    ]
    for path, text in changes:
        path.write_text(text)
        assert installs_again(), f"a change to {path.relative_to(root)} was not noticed"
        assert not installs_again()
