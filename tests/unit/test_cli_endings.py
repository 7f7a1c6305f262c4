"""``main()`` before the engine starts: every ending has its documented code, never a traceback."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from ci.service import Service, Suite
from ci.tier3 import cli, preflight


@pytest.fixture
def service(tmp_path: Path) -> Service:
    root = tmp_path / "services" / "svc"
    (root / "tests").mkdir(parents=True)
    return Service(root=root, migrations=None, suite=Suite("tests"))


def test_sigterm_before_the_engine_starts_is_130(service: Service,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    def check(*_a: object, **_k: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)

    monkeypatch.setattr(preflight, "check", check)
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main(service, ["--backend", "local"]) == 130
    assert "interrupted" in capsys.readouterr().out
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_bug_before_the_engine_is_exit_3_not_1(service: Service,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    def check(*_a: object, **_k: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(preflight, "check", check)
    assert cli.main(service, ["--backend", "local"]) == 3
    assert "internal error in the framework (not a test failure)" in capsys.readouterr().out


def test_unwritable_artifacts_is_exit_2(service: Service, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert cli.main(service, ["--backend", "local", "--artifacts", str(blocker)]) == 2
    assert f"cannot create the artifacts folder under {blocker}" in capsys.readouterr().out


def test_conflicting_modes_are_exit_2(service: Service,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(service, ["--down", "abc", "--keep"]) == 2
    assert "means nothing with it" in capsys.readouterr().out
