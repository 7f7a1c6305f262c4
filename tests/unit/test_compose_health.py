"""Liveness and health verdicts from a container's inspect state."""

from __future__ import annotations

from typing import Any

import pytest

from ci.backends.compose import health
from ci.errors import BackendDied


class FakeContainer:
    name = "svc-1234_pg_1"

    def __init__(self, state: dict[str, Any], restarts: int = 0, log: bytes = b"") -> None:
        self.attrs = {"State": state, "RestartCount": restarts}
        self._log = log
        self.reloads = 0

    def reload(self) -> None:
        self.reloads += 1

    def logs(self, **_kw: Any) -> bytes:
        return self._log


def test_no_healthcheck_means_ready() -> None:
    assert health.native_ready(FakeContainer({"Status": "running"})) is True


@pytest.mark.parametrize(("status", "ready"), [
    ("starting", False), ("unhealthy", False), ("healthy", True)])
def test_healthcheck_status(status: str, ready: bool) -> None:
    c = FakeContainer({"Status": "running", "Health": {"Status": status}})
    assert health.native_ready(c) is ready
    assert c.reloads == 1  # always the current state, never a cached one


def test_running_container_is_alive() -> None:
    health.check_alive(FakeContainer({"Status": "running", "ExitCode": 0}), "pg")


def test_exited_container_reports_code_and_log() -> None:
    c = FakeContainer({"Status": "exited", "ExitCode": 3}, log=b"FATAL: bad config\n")
    with pytest.raises(BackendDied) as info:
        health.check_alive(c, "pg")
    assert "exited (exit code 3)" in info.value.message
    assert "FATAL: bad config" in info.value.message
    assert c.name in info.value.message


def test_restarted_container_counts_as_died_even_when_running_again() -> None:
    c = FakeContainer({"Status": "running", "ExitCode": 1}, restarts=2)
    with pytest.raises(BackendDied, match=r"restarted \(exit code 1, restarted 2 time"):
        health.check_alive(c, "pg")


def test_oom_is_named() -> None:
    c = FakeContainer({"Status": "exited", "ExitCode": 137, "OOMKilled": True})
    with pytest.raises(BackendDied, match="out of memory"):
        health.check_alive(c, "pg")


def test_health_detail_shows_last_check() -> None:
    c = FakeContainer({"Status": "running", "Health": {"Status": "unhealthy", "Log": [
        {"ExitCode": 1, "Output": "connection refused\n"}]}})
    assert health.health_detail(c) == "healthcheck unhealthy, last exit 1: connection refused"


def test_starting_means_docker_has_no_final_word_yet() -> None:
    assert health.starting(FakeContainer({"Health": {"Status": "starting"}}))
    assert not health.starting(FakeContainer({"Health": {"Status": "unhealthy"}}))
    assert not health.starting(FakeContainer({"Status": "running"}))


@pytest.mark.parametrize(("test", "argv"), [
    (["CMD", "pg_isready", "-h", "127.0.0.1"], ["pg_isready", "-h", "127.0.0.1"]),
    (["CMD-SHELL", "redis-cli ping | grep -q PONG"],
     ["/bin/sh", "-c", "redis-cli ping | grep -q PONG"]),
    (["NONE"], None),
])
def test_healthcheck_argv(test: list[str], argv: list[str] | None) -> None:
    c = FakeContainer({})
    c.attrs["Config"] = {"Healthcheck": {"Test": test}}
    assert health.healthcheck_argv(c) == argv


class FakeExecAPI:
    def __init__(self, code: int) -> None:
        self.code = code
        self.ran: list[list[str]] = []

    def exec_create(self, _cid: str, argv: list[str], **_kw: Any) -> dict[str, str]:
        self.ran.append(argv)
        return {"Id": "e1"}

    def exec_start(self, _eid: str) -> bytes:
        return b""

    def exec_inspect(self, _eid: str) -> dict[str, int]:
        return {"ExitCode": self.code}


@pytest.mark.parametrize(("code", "ready"), [(0, True), (1, False)])
def test_run_healthcheck_uses_the_containers_own_command(code: int, ready: bool) -> None:
    c = FakeContainer({})
    c.id = "abc"  # type: ignore[attr-defined]
    c.attrs["Config"] = {"Healthcheck": {"Test": ["CMD", "pg_isready"]}}
    api = FakeExecAPI(code)

    class Cli:
        pass

    cli = Cli()
    cli.api = api  # type: ignore[attr-defined]
    assert health.run_healthcheck(cli, c) is ready
    assert api.ran == [["pg_isready"]]
