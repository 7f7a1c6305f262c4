"""Unit tests of the Tier 3 pieces that need no server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ci import Service, Suite, postgres, redis, secret, tcp
from ci.backends.base import Backend
from ci.backends.local.binaries import parse_version
from ci.endpoints import Endpoint, suite_env
from ci.errors import BackendDied, ConfigError, InfraError
from ci.masking import Masker
from ci.probes import wait as waiting
from ci.runinfo import RunInfo, owner_alive, owner_token
from ci.tier3 import select
from ci.tier3.cli import _stages
from ci.tier3.junit import read_junit
from ci.validation import resolve_env


def make_service(tmp_path: Path, **kwargs: object) -> Service:
    root = tmp_path / "services" / "svc"
    root.mkdir(parents=True, exist_ok=True)
    return Service(root=root, **kwargs)  # type: ignore[arg-type]


PG = Endpoint("postgres", "postgres", "127.0.0.1", 5999, user="u", password="p@ss", database="d")
CACHE = Endpoint("dragonfly", "redis", "127.0.0.1", 6001)


def test_suite_env_has_seed_names_conventions_and_generic_names() -> None:
    env = suite_env({"postgres": PG, "dragonfly": CACHE}, {"X": "{dragonfly.address}"})
    assert env["POSTGRES_HOST"] == "127.0.0.1" and env["POSTGRES_PORT"] == "5999"
    assert env["PGUSER"] == "u" and env["PGDATABASE"] == "d" and env["POSTGRES_DB"] == "d"
    assert env["DATABASE_URL"] == "postgresql://u:p%40ss@127.0.0.1:5999/d"
    assert env["DRAGONFLY_HOST"] == "127.0.0.1" and env["DRAGONFLY_PORT"] == "6001"
    assert env["REDIS_URL"] == "redis://127.0.0.1:6001/0"
    assert env["X"] == "127.0.0.1:6001"


def test_export_to_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a declared backend"):
        suite_env({"postgres": PG}, {"X": "{nats.url}"})


def test_public_url_hides_password() -> None:
    assert "p%40ss" not in PG.public_url() and "***" in PG.public_url()


def test_service_name_and_root_come_from_the_declaring_file(tmp_path: Path) -> None:
    runner = tmp_path / "services" / "billing" / "ci" / "tier3.py"
    runner.parent.mkdir(parents=True)
    runner.write_text("from ci import Service\nservice = Service()\n")
    code = (f"import runpy; ns = runpy.run_path({str(runner)!r}); s = ns['service']; "
            "print(s.name, s.directory.name)")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(root)}, check=True)
    assert out.stdout.split() == ["billing", "billing"]


def test_duplicate_backend_names_rejected(tmp_path: Path) -> None:
    svc = make_service(tmp_path, backends=[redis("a"), redis("a")])  # import time: no raise
    with pytest.raises(ConfigError, match="repeat"):
        svc.validate()


def test_hook_for_unknown_stage_rejected(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    svc.after("deploy")(lambda ctx: None)
    with pytest.raises(ConfigError, match="no stage 'deploy'"):
        svc.validate()


def test_validation_reports_every_problem_at_once(tmp_path: Path) -> None:
    svc = make_service(tmp_path, requires=[
        secret("A_KEY", ssm="/p/a"), secret("B_KEY"), secret("C", pattern=r"sk-\w+"),
    ])
    with pytest.raises(ConfigError) as info:
        resolve_env(svc, {"CI": "true", "C": "nope-secret"})
    text = info.value.message
    assert "A_KEY" in text and "/p/a" in text and "B_KEY" in text and "C: does not match" in text
    assert "nope-secret" not in text  # secrets are never echoed


def test_local_default_only_outside_ci(tmp_path: Path) -> None:
    svc = make_service(tmp_path, requires=[secret("K", local_default="placeholder")])
    local = resolve_env(svc, {})
    assert local.values == {"K": "placeholder"} and "placeholder" in local.notes[0]
    with pytest.raises(ConfigError, match="K: required"):
        resolve_env(svc, {"CI": "true"})


@pytest.mark.parametrize(("only", "attach", "expected"), [
    (None, False, ["up", "wait", "migrate", "test", "collect", "down"]),
    ("up,wait", False, ["up", "wait", "down"]),
    ("test", True, ["test"]),
    (None, True, ["wait", "migrate", "test", "collect"]),
])
def test_stage_selection(only: str | None, attach: bool, expected: list[str]) -> None:
    assert _stages(only, attach) == expected


def test_only_without_up_needs_attach() -> None:
    with pytest.raises(ConfigError, match="already running") as info:
        _stages("test", False)
    assert "--attach RUN_ID" in info.value.hint
    with pytest.raises(ConfigError, match="unknown stage"):
        _stages("deploy", True)


def test_backend_choice_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = make_service(tmp_path, default_backend="compose")
    assert select.choose("local", svc, {"TIERS_BACKEND": "compose"}) == ("local", "--backend")
    assert select.choose(None, svc, {"TIERS_BACKEND": "local"}) == ("local", "TIERS_BACKEND")
    assert select.choose(None, svc, {})[0] == "compose"
    plain = make_service(tmp_path / "other")
    name, reason = select.choose(None, plain, {})
    assert name == "local" and "no compose file" in reason
    (plain.repo_root / "compose").mkdir()
    plain.compose_path.write_text("services: {}\n")
    monkeypatch.setattr(select, "docker_answers", lambda: False)
    assert select.choose("auto", plain, {}) == ("local", "auto: no Docker daemon answers")
    monkeypatch.setattr(select, "docker_answers", lambda: True)
    assert select.choose(None, plain, {}) == ("compose", "auto: a Docker daemon answers")


def test_parse_version() -> None:
    assert parse_version("nats-server: v2.15.1") == (2, 15, 1)
    assert parse_version("Redis server v=6.2.14 sha=0") == (6, 2, 14)
    assert parse_version("postgres (PostgreSQL) 15.18") == (15, 18)
    assert parse_version("nothing") == ()


def test_owner_token_tracks_pid_and_start_time() -> None:
    assert owner_alive(owner_token())
    proc = subprocess.Popen(["true"])
    token = owner_token(proc.pid)
    proc.wait()
    assert not owner_alive(token)
    pid = os.getpid()
    assert not owner_alive(f"{pid}:1")  # same pid, different start time: a reused pid


def test_masker_masks_values_and_each_line() -> None:
    m = Masker()
    m.register("first-line-secret\nsecond-line-secret", announce=False)
    m.register("abc", announce=False)  # too short to mask usefully
    text = m.redact("a first-line-secret b second-line-secret c abc")
    assert text == "a *** b *** c abc"


def test_junit_counts_and_failures(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text("""<testsuites><testsuite>
      <testcase classname="tests.test_a" name="test_ok" file="tests/test_a.py" line="3"/>
      <testcase classname="tests.test_a" name="test_bad" file="tests/test_a.py" line="9">
        <failure message="assert 1 == 2">trace</failure></testcase>
      <testcase classname="tests.test_a" name="test_skip"><skipped message="no"/></testcase>
      <testcase classname="tests.test_a" name="test_err"><error message="boom"/></testcase>
    </testsuite></testsuites>""")
    counts = read_junit(junit)
    assert counts is not None
    assert (counts.total, counts.passed, counts.failed, counts.skipped, counts.errors) == (
        4, 1, 1, 1, 1)
    assert counts.failures[0].line == 10 and counts.failures[0].message == "assert 1 == 2"
    assert counts.summary() == "1 passed, 1 failed, 1 errors, 1 skipped"


class FakeBackend(Backend):
    """Scripted answers for the wait loop: no processes, no sockets."""

    name = "fake"

    def __init__(self, alive_for: int = 10**6, ready_after: int = 0) -> None:
        self.checks = 0
        self.alive_for = alive_for
        self.ready_after = ready_after

    def sweep(self) -> list[str]:
        return []

    def up(self) -> None: ...

    def endpoint(self, backing: object) -> Endpoint:
        return Endpoint("x", "tcp", "127.0.0.1", 1)

    def check_alive(self, backing: object) -> None:
        self.checks += 1
        if self.checks > self.alive_for:
            raise BackendDied("server process 42 exited with code 9")

    def native_ready(self, backing: object) -> bool:
        return self.checks > self.ready_after

    def log_tail(self, backing: object, lines: int = 20) -> str:
        return "FATAL: out of cheese"

    def collect(self, logs_dir: Path, *, failed: bool) -> list[Path]:
        return []

    def down(self) -> None: ...

    def keep(self) -> str:
        return ""


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _patch_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    class Ok:
        description = "always ok"

        def check(self, endpoint: Endpoint) -> None:
            return None

    monkeypatch.setattr(waiting, "probe_for", lambda backing: Ok())


def test_wait_backs_off_from_10ms(monkeypatch: pytest.MonkeyPatch) -> None:
    _patch_probe(monkeypatch)
    clock = FakeClock()
    ready = waiting.wait_for(FakeBackend(ready_after=4), tcp("x", timeout=5),
                             clock=clock, sleep=clock.sleep)
    assert ready.attempts == 5
    assert clock.sleeps == [0.01, 0.02, 0.04, 0.08]


def test_wait_fails_at_once_when_the_server_dies(monkeypatch: pytest.MonkeyPatch) -> None:
    _patch_probe(monkeypatch)
    clock = FakeClock()
    with pytest.raises(BackendDied, match="exited with code 9") as info:
        waiting.wait_for(FakeBackend(alive_for=2, ready_after=99), tcp("x", timeout=300),
                         clock=clock, sleep=clock.sleep)
    assert "out of cheese" in info.value.message
    assert clock.now < 1


def test_wait_timeout_names_service_probe_and_last_error() -> None:
    clock = FakeClock()
    with pytest.raises(InfraError) as info:
        waiting.wait_for(FakeBackend(), tcp("api", timeout=2), clock=clock, sleep=clock.sleep)
    text = info.value.message
    assert "api (tcp) not ready after 2s" in text and "probe: TCP connect" in text
    assert "ConnectionRefusedError" in text and "out of cheese" in text


def test_run_info_labels_and_env_carry_the_run_id(tmp_path: Path) -> None:
    run = RunInfo("svc", tmp_path)
    assert run.process_env()["TIERS_RUN_ID"] == run.id
    assert run.labels()["io.tiers.run-id"] == run.id
    assert len(run.timestamp) == 16 and run.timestamp.endswith("Z")


def test_suite_defaults() -> None:
    s = Suite("tests/it", cov=["a", "b"])
    assert s.path_list == ["tests/it"] and s.cov_list == ["a", "b"]
    assert postgres().endpoint("h", 1).user == "test"


def test_add_mask_escapes_percent_and_announces_lines_only(
    capfd: pytest.CaptureFixture[str],
) -> None:
    m = Masker()
    m.register("pa%ss-line-one\nline-two-secret", announce=True)
    out = capfd.readouterr().out
    assert out.splitlines() == ["::add-mask::line-two-secret", "::add-mask::pa%25ss-line-one"]
