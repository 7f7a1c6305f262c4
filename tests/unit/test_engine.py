"""The Tier 3 engine in-process: every stage failing, interrupts and hooks, run.json always.

The stages are fake functions and the backend records its calls, so a change
to the teardown logic gets an answer in well under a second, without Docker or
a server binary. What is checked is what a user relies on: the exit code, the
one-line error, each stage's status, that collect and down ran exactly once,
and that run.json on disk says the same.
"""

from __future__ import annotations

import io
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ci.backends.base import Backend
from ci.console import Console
from ci.endpoints import Endpoint
from ci.errors import BackendDied, ConfigError, InfraError, Interrupted, SuiteError
from ci.exit_codes import ExitCode
from ci.runinfo import RunInfo
from ci.service import Backing, Service
from ci.stages import SETUP, TEARDOWN, Stage, Status
from ci.tier3 import engine
from ci.tier3.context import RunContext
from ci.tier3.stages import FUNCTIONS, StageFn


class RecordingBackend(Backend):
    """A backend that starts nothing and remembers every call the engine made."""

    name = "fake"

    def __init__(self, service: Service, run: RunInfo, console: Console) -> None:
        super().__init__(service, run, console)
        self.calls: list[str] = []
        self.on: dict[str, Callable[[], None]] = {}

    def _call(self, name: str) -> None:
        self.calls.append(name)
        action = self.on.get(name)
        if action is not None:
            action()

    def sweep(self) -> list[str]:
        self._call("sweep")
        return []

    def up(self) -> None:
        self._call("up")

    def endpoint(self, backing: Backing) -> Endpoint:
        return Endpoint(backing.name, "tcp", "127.0.0.1", 1)

    def check_alive(self, backing: Backing) -> None:
        self._call("check_alive")

    def log_tail(self, backing: Backing, lines: int = 20) -> str:
        return ""

    def collect(self, logs_dir: Path, *, failed: bool) -> list[Path]:
        self._call("collect")
        return []

    def down(self) -> None:
        self._call("down")

    def keep(self) -> str:
        self._call("keep")
        return "python tier3.py --down RUN"


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[RunContext]:
    root = tmp_path / "services" / "svc"
    root.mkdir(parents=True)
    service = Service(root=root)
    run = RunInfo("svc", tmp_path)
    console = Console("svc", stream=io.StringIO())
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    yield RunContext(service=service, run=run, console=console,
                     backend=RecordingBackend(service, run, console), artifacts=artifacts)


def calls(ctx: RunContext) -> list[str]:
    assert isinstance(ctx.backend, RecordingBackend)
    return ctx.backend.calls


def output(ctx: RunContext) -> str:
    stream = ctx.console.stream
    assert isinstance(stream, io.StringIO)
    return stream.getvalue()


def run_json(ctx: RunContext) -> dict[str, object]:
    data = json.loads((ctx.artifacts / "run.json").read_text())
    assert isinstance(data, dict)
    return data


def statuses(ctx: RunContext) -> dict[str, str]:
    """Stage name -> status, from run.json (what the artifacts say, not the context)."""
    stages = run_json(ctx)["stages"]
    assert isinstance(stages, list)
    return {s["name"]: s["status"] for s in stages}


def passing_test(ctx: RunContext) -> str:
    ctx.test_exit = 0
    return "1 passed"


def fake_functions(**overrides: StageFn) -> dict[Stage, StageFn]:
    """Real up/collect/down (they only call the backend), no-op wait/migrate/test."""
    functions: dict[Stage, StageFn] = {
        Stage.UP: FUNCTIONS[Stage.UP],
        Stage.WAIT: lambda ctx: "ready",
        Stage.MIGRATE: lambda ctx: "nothing to migrate",
        Stage.TEST: passing_test,
        Stage.COLLECT: FUNCTIONS[Stage.COLLECT],
        Stage.DOWN: FUNCTIONS[Stage.DOWN],
    }
    functions.update({Stage(k): v for k, v in overrides.items()})
    return functions


def raising(exc: BaseException, *, after: StageFn | None = None) -> StageFn:
    def stage(ctx: RunContext) -> str:
        if after is not None:
            after(ctx)
        raise exc
    return stage


def send(sig: signal.Signals) -> StageFn:
    """A stage during which the process receives ``sig`` (as from a terminal or a runner)."""
    def stage(ctx: RunContext) -> str:
        os.kill(os.getpid(), sig)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:  # the handler runs between these sleeps
            time.sleep(0.01)
        raise AssertionError(f"{sig.name} was not delivered")
    return stage


def assert_torn_down_once(ctx: RunContext) -> None:
    assert calls(ctx).count("collect") == 1 and calls(ctx).count("down") == 1, calls(ctx)
    assert calls(ctx).index("collect") < calls(ctx).index("down")


def assert_stages(ctx: RunContext, failing: Stage, status: Status) -> None:
    """Stages before ``failing`` ok, it ``status``, later setup stages absent, teardown ok."""
    expected = {s.value: Status.OK.value for s in SETUP[:SETUP.index(failing)]}
    expected[failing.value] = status.value
    expected.update({s.value: Status.OK.value for s in TEARDOWN})
    assert statuses(ctx) == expected
    assert [s.stage for s in ctx.stages] == [*SETUP[:SETUP.index(failing) + 1], *TEARDOWN]


# -- a passing run ------------------------------------------------------------------
def test_passing_run_runs_every_stage_once_and_writes_run_json(ctx: RunContext) -> None:
    code = engine.run(ctx, functions=fake_functions())
    assert code == ExitCode.OK
    assert calls(ctx) == ["sweep", "up", "collect", "down"]
    data = run_json(ctx)
    assert data["exit_code"] == 0 and data["error"] is None
    assert statuses(ctx) == {s.value: "ok" for s in Stage}
    assert "svc: passed" in output(ctx)


def test_failed_tests_exit_1_with_test_stage_failed(ctx: RunContext) -> None:
    def failing(ctx: RunContext) -> str:
        ctx.test_exit, ctx.failed = 1, True
        return "1 failed"

    assert engine.run(ctx, functions=fake_functions(test=failing)) == ExitCode.TESTS_FAILED
    assert_stages(ctx, Stage.TEST, Status.FAILED)
    assert run_json(ctx)["exit_code"] == 1
    assert_torn_down_once(ctx)


# -- every setup stage failing, with every kind of error ------------------------------
ERRORS: list[tuple[str, Callable[[], BaseException], int, str]] = [
    ("infra", lambda: InfraError("db not ready"), ExitCode.INFRA, "db not ready"),
    ("died", lambda: BackendDied("db exited with code 9"), ExitCode.INFRA, "db exited"),
    ("suite", lambda: SuiteError("pytest collected no tests"), ExitCode.SUITE, "no tests"),
    ("bug", lambda: RuntimeError("boom"), ExitCode.INFRA,
     "unexpected error in the framework: RuntimeError('boom')"),
    ("oserror", lambda: FileNotFoundError(2, "gone"), ExitCode.INFRA, "unexpected error"),
]


@pytest.mark.parametrize("stage", SETUP)
@pytest.mark.parametrize(("kind", "make", "code", "message"), ERRORS,
                         ids=[e[0] for e in ERRORS])
def test_a_setup_stage_failing_is_classified_and_torn_down(
        ctx: RunContext, stage: Stage, kind: str, make: Callable[[], BaseException], code: int,
        message: str) -> None:
    up = FUNCTIONS[Stage.UP]
    fn = raising(make(), after=up if stage is Stage.UP else None)
    assert engine.run(ctx, functions=fake_functions(**{stage.value: fn})) == code
    assert_stages(ctx, stage, Status.FAILED)
    data = run_json(ctx)
    assert data["exit_code"] == code
    assert message in str(data["error"])
    assert_torn_down_once(ctx)
    if kind == "bug":
        assert "Traceback" in output(ctx), "a framework bug shows its traceback"


def test_config_error_before_up_is_exit_2(ctx: RunContext) -> None:
    ctx.service.before(Stage.UP)(raising(ConfigError("bad template", hint="fix it")))
    assert engine.run(ctx, functions=fake_functions()) == ExitCode.CONFIG
    assert "up" not in calls(ctx)
    assert run_json(ctx)["error"] == "bad template"
    assert "hint: fix it" in output(ctx)
    assert_torn_down_once(ctx)


@pytest.mark.parametrize("stage", SETUP)
def test_config_error_after_up_began_is_not_exit_2(ctx: RunContext, stage: Stage) -> None:
    # Exit 2 promises that nothing was started; once up ran, that is no longer true.
    fn = raising(ConfigError("found late"), after=FUNCTIONS[Stage.UP] if stage is Stage.UP
                 else None)
    assert engine.run(ctx, functions=fake_functions(**{stage.value: fn})) == ExitCode.INFRA
    assert_stages(ctx, stage, Status.FAILED)
    assert run_json(ctx)["exit_code"] == 3 and run_json(ctx)["error"] == "found late"
    assert_torn_down_once(ctx)


def test_up_failing_halfway_is_still_torn_down(ctx: RunContext) -> None:
    assert isinstance(ctx.backend, RecordingBackend)
    ctx.backend.on["up"] = lambda: (_ for _ in ()).throw(InfraError("port taken"))
    assert engine.run(ctx, functions=fake_functions()) == ExitCode.INFRA
    assert calls(ctx) == ["sweep", "up", "collect", "down"]
    assert_stages(ctx, Stage.UP, Status.FAILED)


def test_sweep_failing_is_an_infra_error_and_still_tears_down(ctx: RunContext) -> None:
    assert isinstance(ctx.backend, RecordingBackend)
    ctx.backend.on["sweep"] = lambda: (_ for _ in ()).throw(InfraError("docker gone"))
    assert engine.run(ctx, functions=fake_functions()) == ExitCode.INFRA
    assert run_json(ctx)["error"] == "docker gone"
    assert_torn_down_once(ctx)


# -- interrupts in every stage -------------------------------------------------------------
INTERRUPTS: list[tuple[str, Callable[[], StageFn], str]] = [
    ("keyboardinterrupt", lambda: raising(KeyboardInterrupt()), "interrupted (SIGINT)"),
    ("sigint", lambda: send(signal.SIGINT), "interrupted (SIGINT)"),
    ("sigterm", lambda: send(signal.SIGTERM), "interrupted (SIGTERM)"),
    ("interrupted", lambda: raising(Interrupted("SIGTERM")), "interrupted (SIGTERM)"),
]


@pytest.mark.parametrize("stage", SETUP)
@pytest.mark.parametrize(("how", "make", "error"), INTERRUPTS, ids=[i[0] for i in INTERRUPTS])
def test_an_interrupt_in_a_setup_stage_exits_130_after_teardown(
        ctx: RunContext, stage: Stage, how: str, make: Callable[[], StageFn],
        error: str) -> None:
    fn = make()
    if stage is Stage.UP:
        inner = fn

        def fn(ctx: RunContext) -> str:
            FUNCTIONS[Stage.UP](ctx)
            return inner(ctx)

    assert engine.run(ctx, functions=fake_functions(**{stage.value: fn})) == 130
    assert_stages(ctx, stage, Status.INTERRUPTED)
    data = run_json(ctx)
    assert data["exit_code"] == 130 and data["error"] == error
    assert_torn_down_once(ctx)
    assert "tearing down" in output(ctx)


def test_sigterm_handler_is_restored_after_the_run(ctx: RunContext) -> None:
    before = signal.getsignal(signal.SIGTERM)
    engine.run(ctx, functions=fake_functions())
    assert signal.getsignal(signal.SIGTERM) is before
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("stage", TEARDOWN)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_teardown_is_noted_teardown_completes_exit_130(
        ctx: RunContext, stage: Stage, sig: signal.Signals) -> None:
    real = FUNCTIONS[stage]

    def fn(ctx: RunContext) -> str:
        os.kill(os.getpid(), sig)
        time.sleep(0.05)  # a handler that raised would do so here
        return real(ctx)

    code = engine.run(ctx, functions=fake_functions(**{stage.value: fn}))
    assert code == ExitCode.INTERRUPTED
    assert_torn_down_once(ctx)
    assert statuses(ctx) == {s.value: "ok" for s in Stage}
    data = run_json(ctx)
    assert data["exit_code"] == 130 and data["error"] == "interrupted during teardown"
    assert "teardown was completed" in output(ctx)


def test_a_second_signal_during_teardown_after_an_interrupt_keeps_130(ctx: RunContext) -> None:
    def collect(ctx: RunContext) -> str:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        return FUNCTIONS[Stage.COLLECT](ctx)

    code = engine.run(ctx, functions=fake_functions(test=send(signal.SIGTERM), collect=collect))
    assert code == 130
    assert run_json(ctx)["error"] == "interrupted (SIGTERM)"
    assert_torn_down_once(ctx)


# -- teardown stages failing --------------------------------------------------------------
@pytest.mark.parametrize("stage", TEARDOWN)
def test_teardown_failing_after_a_pass_is_an_infra_error(ctx: RunContext, stage: Stage) -> None:
    real = FUNCTIONS[stage]

    def fn(ctx: RunContext) -> str:
        real(ctx)
        raise InfraError(f"{stage} broke")

    assert engine.run(ctx, functions=fake_functions(**{stage.value: fn})) == ExitCode.INFRA
    assert_torn_down_once(ctx)
    assert statuses(ctx)[stage.value] == "failed"
    assert run_json(ctx)["exit_code"] == 3 and f"{stage} broke" in str(run_json(ctx)["error"])


def test_collect_failing_does_not_skip_down(ctx: RunContext) -> None:
    fn = raising(RuntimeError("disk full"))
    assert engine.run(ctx, functions=fake_functions(collect=fn)) == ExitCode.INFRA
    assert calls(ctx).count("down") == 1


def test_teardown_failing_after_a_failure_keeps_the_first_error(ctx: RunContext) -> None:
    functions = fake_functions(migrate=raising(InfraError("002_bad.sql failed")),
                               down=raising(InfraError("could not stop")))
    assert engine.run(ctx, functions=functions) == ExitCode.INFRA
    assert run_json(ctx)["error"] == "002_bad.sql failed"
    assert "could not stop" in output(ctx)


def test_down_failing_after_tests_failed_keeps_exit_1_and_names_it(ctx: RunContext) -> None:
    # The first verdict stands (teardown trouble must not hide it); the console names
    # the teardown failure so the leak is not silent.
    def failing(ctx: RunContext) -> str:
        ctx.test_exit, ctx.failed = 1, True
        return "1 failed"

    code = engine.run(ctx, functions=fake_functions(test=failing,
                                                    down=raising(InfraError("could not stop"))))
    assert code == ExitCode.TESTS_FAILED
    assert "down failed: could not stop" in output(ctx)
    assert run_json(ctx)["exit_code"] == code


# -- hooks ----------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", SETUP)
@pytest.mark.parametrize("when", ["before", "after"])
def test_a_hook_raising_in_setup_fails_its_stage(ctx: RunContext, stage: Stage,
                                                 when: str) -> None:
    register = ctx.service.before if when == "before" else ctx.service.after
    register(stage)(raising(ValueError(f"{when}_{stage} hook")))
    code = engine.run(ctx, functions=fake_functions())
    started = stage is not Stage.UP or when == "after"
    assert code == ExitCode.INFRA
    assert ("up" in calls(ctx)) == started
    assert_stages(ctx, stage, Status.FAILED)
    assert f"hook {when}_{stage}" in str(run_json(ctx)["error"])
    assert f"raised ValueError: {when}_{stage} hook" in str(run_json(ctx)["error"])
    assert_torn_down_once(ctx)


@pytest.mark.parametrize("stage", TEARDOWN)
@pytest.mark.parametrize("when", ["before", "after"])
def test_a_hook_raising_in_teardown_does_not_skip_teardown(ctx: RunContext, stage: Stage,
                                                           when: str) -> None:
    register = ctx.service.before if when == "before" else ctx.service.after
    register(stage)(raising(ValueError("hook broke")))
    code = engine.run(ctx, functions=fake_functions())
    assert code == ExitCode.INFRA
    assert_torn_down_once(ctx)
    assert statuses(ctx)[stage.value] == "failed"
    assert "hook broke" in str(run_json(ctx)["error"])


@pytest.mark.parametrize("stage", TEARDOWN)
def test_a_hook_exiting_in_teardown_does_not_skip_down(ctx: RunContext, stage: Stage) -> None:
    ctx.service.before(stage)(raising(SystemExit(1)))
    code = engine.run(ctx, functions=fake_functions())
    assert code == ExitCode.INFRA
    assert_torn_down_once(ctx)
    assert run_json(ctx)["exit_code"] == 3


def test_hooks_run_in_order_around_their_stage(ctx: RunContext) -> None:
    seen: list[str] = []
    for stage in Stage:
        ctx.service.before(stage)(lambda c, s=stage: seen.append(f"before_{s}"))
        ctx.service.after(stage)(lambda c, s=stage: seen.append(f"after_{s}"))
    assert engine.run(ctx, functions=fake_functions()) == 0
    assert seen == [f"{w}_{s}" for s in Stage for w in ("before", "after")]


def test_an_interrupt_in_a_hook_is_an_interrupt(ctx: RunContext) -> None:
    ctx.service.after(Stage.WAIT)(raising(KeyboardInterrupt()))
    assert engine.run(ctx, functions=fake_functions()) == 130
    assert_stages(ctx, Stage.WAIT, Status.INTERRUPTED)
    assert_torn_down_once(ctx)


# -- --keep, --only, run.json ------------------------------------------------------------------
def test_keep_skips_down_and_says_how_to_tear_down(ctx: RunContext) -> None:
    ctx.keep = True
    assert engine.run(ctx, functions=fake_functions()) == 0
    assert calls(ctx) == ["sweep", "up", "collect", "keep"]
    assert statuses(ctx)["down"] == "skipped"
    assert "--down RUN" in output(ctx)
    assert run_json(ctx)["exit_code"] == 0


def test_keep_after_a_failure_still_keeps_and_reports_the_failure(ctx: RunContext) -> None:
    ctx.keep = True
    code = engine.run(ctx, functions=fake_functions(wait=raising(InfraError("not ready"))))
    assert code == ExitCode.INFRA
    assert "down" not in calls(ctx) and "keep" in calls(ctx)
    assert run_json(ctx)["exit_code"] == 3 and run_json(ctx)["error"] == "not ready"


def test_only_selected_stages_run_without_sweep(ctx: RunContext) -> None:
    code = engine.run(ctx, stages=(Stage.MIGRATE, Stage.TEST),
                      functions=fake_functions())
    assert code == 0
    assert calls(ctx) == []
    assert list(statuses(ctx)) == ["migrate", "test"]


def test_run_json_is_on_disk_before_down_starts(ctx: RunContext) -> None:
    # A run SIGKILLed during down still leaves its verdict behind.
    seen: dict[str, object] = {}

    def down(ctx: RunContext) -> str:
        seen.update(run_json(ctx))
        return FUNCTIONS[Stage.DOWN](ctx)

    engine.run(ctx, functions=fake_functions(wait=raising(InfraError("not ready")), down=down))
    assert seen["exit_code"] == 3 and seen["error"] == "not ready"


def test_unwritable_artifacts_turn_a_pass_into_an_infra_error(ctx: RunContext) -> None:
    ctx.artifacts = ctx.artifacts / "missing" / "folder"
    assert engine.run(ctx, functions=fake_functions()) == ExitCode.INFRA
    assert "could not write the run's artifacts" in output(ctx)
    assert_torn_down_once(ctx)


def test_cached_detail_gives_cached_status(ctx: RunContext) -> None:
    code = engine.run(ctx, functions=fake_functions(migrate=lambda c: "cached (hash abc)"))
    assert code == 0 and statuses(ctx)["migrate"] == "cached"


def test_outcome_maps_every_ending() -> None:
    root = Path("/nonexistent")
    service = Service(root=root)
    console = Console("svc", stream=io.StringIO())
    run = RunInfo("svc", root)
    ctx = RunContext(service, run, console, RecordingBackend(service, run, console), root)
    assert engine.outcome(KeyboardInterrupt(), ctx) == (130, "interrupted (SIGINT)")
    assert engine.outcome(ConfigError("x"), ctx) == (2, "x")
    ctx.started_backends = True
    assert engine.outcome(ConfigError("x"), ctx) == (3, "x")
    assert engine.outcome(SuiteError("y"), ctx) == (4, "y")
    assert engine.outcome(ValueError("z"), ctx)[0] == 3
