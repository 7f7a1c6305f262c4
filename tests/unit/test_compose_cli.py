"""Compose CLI detection (v2 plugin first, v1 fallback) and the argv we build."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ci.backends.compose import cli
from ci.errors import InfraError


@pytest.fixture(autouse=True)
def _fresh_detection(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cli.detect.cache_clear()
    monkeypatch.delenv("TIERS_COMPOSE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def fake_run(answers: dict[tuple[str, ...], str | None]):  # type: ignore[no-untyped-def]
    calls: list[list[str]] = []

    def run(argv, **_kw):  # type: ignore[no-untyped-def]
        calls.append(list(argv))
        out = answers.get(tuple(argv[:-2]))
        if out is None:
            return subprocess.CompletedProcess(argv, 1, "", "unknown command")
        return subprocess.CompletedProcess(argv, 0, out + "\n", "")

    return run, calls


def test_v2_plugin_is_preferred(monkeypatch: pytest.MonkeyPatch) -> None:
    run, calls = fake_run({("docker", "compose"): "v2.29.1", ("docker-compose",): "1.29.2"})
    monkeypatch.setattr(cli.subprocess, "run", run)
    found = cli.detect()
    assert found.argv0 == ("docker", "compose")
    assert found.v2 and found.version == "2.29.1"
    assert "compose v2" in found.describe()
    assert calls == [["docker", "compose", "version", "--short"]]


def test_falls_back_to_v1(monkeypatch: pytest.MonkeyPatch) -> None:
    run, _ = fake_run({("docker-compose",): "1.29.2"})
    monkeypatch.setattr(cli.subprocess, "run", run)
    found = cli.detect()
    assert found.argv0 == ("docker-compose",)
    assert not found.v2
    assert "compose v1" in found.describe()


def test_detection_runs_once(monkeypatch: pytest.MonkeyPatch) -> None:
    run, calls = fake_run({("docker-compose",): "1.29.2"})
    monkeypatch.setattr(cli.subprocess, "run", run)
    cli.detect()
    cli.detect()
    assert len(calls) == 2  # plugin tried once, v1 once; the second detect() is cached


def test_standalone_v2_binary_counts_as_v2(monkeypatch: pytest.MonkeyPatch) -> None:
    run, _ = fake_run({("docker-compose",): "2.24.0"})
    monkeypatch.setattr(cli.subprocess, "run", run)
    assert cli.detect().v2


def test_forced_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    run, calls = fake_run({("docker", "compose"): "2.29.1", ("docker-compose",): "1.29.2"})
    monkeypatch.setattr(cli.subprocess, "run", run)
    monkeypatch.setenv("TIERS_COMPOSE", "docker-compose")
    assert cli.detect().argv0 == ("docker-compose",)
    assert calls == [["docker-compose", "version", "--short"]]


def test_none_found_is_infra_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(argv, **_kw):  # type: ignore[no-untyped-def]
        raise FileNotFoundError(argv[0])

    monkeypatch.setattr(cli.subprocess, "run", missing)
    with pytest.raises(InfraError, match="no docker compose CLI"):
        cli.detect()


def test_argv_v1_and_v2() -> None:
    files = [Path("compose/a.yml"), Path("/tmp/x/override.yml")]
    v1 = cli.ComposeCLI(("docker-compose",), "1.29.2")
    v2 = cli.ComposeCLI(("docker", "compose"), "2.29.1")
    assert v1.up("svc-1234", files) == [
        "docker-compose", "--project-name", "svc-1234", "--file", "compose/a.yml",
        "--file", "/tmp/x/override.yml", "up", "--detach", "--remove-orphans"]
    assert "--wait" not in v2.up("p", files)  # readiness is judged by the engine
    down = v2.down("p", files)
    assert down[:3] == ["docker", "compose", "--project-name"]
    assert down[-5:] == ["down", "--volumes", "--remove-orphans", "--timeout",
                         str(cli.STOP_TIMEOUT)]
    assert v1.ps("p", files)[-1] == "ps"
    assert v2.ps("p", files)[-2:] == ["ps", "--all"]
    assert v1.manual_down("svc-1", Path("compose/a.yml")) == (
        "docker-compose --project-name svc-1 --file compose/a.yml down --volumes "
        f"--remove-orphans --timeout {cli.STOP_TIMEOUT}")


def test_standalone_version_is_cached_until_the_executable_changes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    run, calls = fake_run({("docker-compose",): "1.29.2"})
    monkeypatch.setattr(cli.subprocess, "run", run)
    monkeypatch.setattr(cli, "_fingerprint", lambda argv: "/usr/bin/docker-compose:1:1"
                        if tuple(argv) == ("docker-compose",) else None)
    first = cli.detect()
    assert first.version == "1.29.2" and not first.cached
    cli.detect.cache_clear()
    calls.clear()
    second = cli.detect()
    assert second.cached and second.version == "1.29.2"
    assert "version cached" in second.describe()
    assert ["docker-compose", "version", "--short"] not in calls
    cli.detect.cache_clear()
    monkeypatch.setattr(cli, "_fingerprint", lambda argv: "/usr/bin/docker-compose:2:2"
                        if tuple(argv) == ("docker-compose",) else None)
    third = cli.detect()
    assert not third.cached  # upgraded in place: asked again
