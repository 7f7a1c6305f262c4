"""Run the stages in order inside one teardown guard, and decide the exit code once.

Set-up happens *inside* the guard (pytest-docker #33 started containers
before the ``try`` that owned their cleanup): whatever ``up`` managed to start
before failing, ``down`` removes. Collect and down run after success, test
failure, an exception, Ctrl-C and SIGTERM, shielded from further signals; a
signal noted during teardown still makes the run "interrupted".

Every way a run can end goes through :func:`outcome`, the one place that turns
an exception into an exit code and a message (nox's ``Result`` idea): the
console, run.json and the GitHub summary then agree because they read it.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Collection, Mapping
from pathlib import Path

from ci.errors import ConfigError, InfraError, Interrupted, TiersError
from ci.exit_codes import ExitCode
from ci.masking import redact
from ci.service import Hook, relative
from ci.stages import SETUP, TEARDOWN, Stage, Status
from ci.tier3.artifacts import redact_tree, write_run_json
from ci.tier3.children import sweep_orphaned_suites
from ci.tier3.context import RunContext, StageResult
from ci.tier3.signals import shielded, sigterm_unwinds
from ci.tier3.stages import FUNCTIONS, StageFn
from ci.tier3.suite import PYTEST_EXIT


def _call_hook(hook: Hook, key: str, ctx: RunContext) -> None:
    """Run a hook of tier3.py; what it raises is reported as the hook's, not the framework's."""
    try:
        hook(ctx)
    except TiersError:
        raise
    except Exception as exc:
        code = getattr(hook, "__code__", None)
        frames = traceback.extract_tb(exc.__traceback__)
        own = [f for f in frames if code is not None and f.filename == code.co_filename]
        where = (own or frames)[-1]
        name = getattr(hook, "__qualname__", repr(hook))
        raise InfraError(
            f"hook {key} {name}() raised {type(exc).__name__}: {exc} "
            f"({relative(Path(where.filename), Path.cwd())}, line {where.lineno})",
            hint="fix the hook in tier3.py") from None


def run_stage(ctx: RunContext, stage: Stage, functions: Mapping[Stage, StageFn]) -> None:
    """Run one stage with its hooks, timed, reported on one line as it finishes."""
    start = time.monotonic()
    status, detail = Status.OK, ""
    try:
        with ctx.console.group(stage.value):
            try:
                for hook in ctx.service.hooks.get(f"before_{stage}", []):
                    _call_hook(hook, f"before_{stage}", ctx)
            finally:
                if stage in TEARDOWN:  # a broken hook must not leave servers running
                    detail = functions[stage](ctx)
            if stage not in TEARDOWN:
                detail = functions[stage](ctx)
            for hook in ctx.service.hooks.get(f"after_{stage}", []):
                _call_hook(hook, f"after_{stage}", ctx)
        if detail.startswith("cached"):
            status = Status.CACHED
        if stage is Stage.TEST and ctx.failed:
            status = Status.FAILED
    except (KeyboardInterrupt, Interrupted):
        status = Status.INTERRUPTED
        raise
    except BaseException as exc:
        status = Status.FAILED
        detail = exc.message.splitlines()[0] if isinstance(exc, TiersError) else repr(exc)
        raise
    finally:
        seconds = time.monotonic() - start
        ctx.stages.append(StageResult(stage, status, seconds, detail))
        ctx.console.stage(stage.value, status.value, seconds, detail)


def outcome(exc: BaseException, ctx: RunContext) -> tuple[int, str]:
    """The exit code and one-line error for a run that ended with ``exc``."""
    if isinstance(exc, (KeyboardInterrupt, Interrupted)):
        return ExitCode.INTERRUPTED, f"interrupted ({str(exc) or 'SIGINT'})"
    if isinstance(exc, ConfigError) and ctx.started_backends:
        # Exit 2 promises nothing was started; found later, it is what happened.
        return ExitCode.INFRA, exc.message
    if isinstance(exc, TiersError):
        return exc.code, exc.message
    return ExitCode.INFRA, f"unexpected error in the framework: {exc!r}"


def sweep(ctx: RunContext) -> None:
    removed = ctx.backend.sweep() + sweep_orphaned_suites(ctx.run)
    if removed:
        ctx.console.info(f"swept {len(removed)} leftovers of earlier runs whose owner is gone:")
        for line in removed:
            ctx.console.info(f"  removed {line}")


def run(ctx: RunContext, stages: Collection[Stage] = tuple(Stage),
        functions: Mapping[Stage, StageFn] = FUNCTIONS) -> int:
    code: int = ExitCode.OK
    with sigterm_unwinds():
        try:
            if Stage.UP in stages:
                ctx.backend.preflight()
                sweep(ctx)
            for stage in SETUP:
                if stage in stages:
                    run_stage(ctx, stage, functions)
            if ctx.test_exit is not None:
                code = PYTEST_EXIT.get(ctx.test_exit, ExitCode.TESTS_FAILED)
        except BaseException as exc:  # every ending is classified, none escapes teardown
            ctx.failed = True
            code, ctx.error = outcome(exc, ctx)
            if isinstance(exc, TiersError):
                ctx.console.error(exc.render())
            elif code == ExitCode.INTERRUPTED:
                ctx.console.error(f"{ctx.error}: tearing down")
            else:
                ctx.console.error(redact(traceback.format_exc()))
        finally:
            with shielded(f"[{ctx.console.prefix}] signal noted: finishing teardown first") as got:
                if ctx.prestarted is not None:  # set-up failed before the test stage
                    ctx.prestarted.abandon()
                    ctx.prestarted = None
                code = _finish(ctx, stages, functions, code)
            if got and code != ExitCode.INTERRUPTED:
                ctx.console.error("interrupted during teardown (teardown was completed)")
                code = ExitCode.INTERRUPTED
                ctx.error = ctx.error or "interrupted during teardown"
                _write(ctx, code)
    return code


def _finish(ctx: RunContext, stages: Collection[Stage], functions: Mapping[Stage, StageFn],
            code: int) -> int:
    for stage in TEARDOWN:
        if stage not in stages:
            continue
        if stage is Stage.DOWN and ctx.keep:
            _keep(ctx)
            continue
        if stage is Stage.DOWN:
            # The verdict is on disk before teardown: a run killed now still says what it found.
            _write(ctx, code)
        try:
            run_stage(ctx, stage, functions)
        except BaseException as exc:  # teardown trouble must not hide the first error
            # Signals are shielded here: a BaseException is a hook's SystemExit or the like,
            # and must not skip down any more than an Exception does.
            ctx.console.error(f"{stage} failed: {redact(str(exc) or repr(exc))}")
            if code == ExitCode.OK:
                code = ExitCode.INFRA
                ctx.error = f"{stage} failed: {str(exc) or repr(exc)}"
    code = _write(ctx, code)
    verdict = "passed" if code == 0 else f"exit {code}"
    tests = f" ({ctx.tests.summary()})" if ctx.tests else ""
    ctx.console.info(f"{ctx.service.name}: {verdict}{tests}; artifacts: {ctx.artifacts}")
    return code


def _write(ctx: RunContext, code: int) -> int:
    """Mask every artifact and write run.json; a failure to do so is an infra error."""
    try:
        redact_tree(ctx.artifacts)
        write_run_json(ctx, code)
    except OSError as exc:
        ctx.console.error(f"could not write the run's artifacts in {ctx.artifacts}: {exc}")
        return code if code != ExitCode.OK else ExitCode.INFRA
    return code


def _keep(ctx: RunContext) -> None:
    teardown = ctx.backend.keep()
    ctx.stages.append(StageResult(Stage.DOWN, Status.SKIPPED, 0.0, "--keep"))
    ctx.console.info("backends kept running (--keep). Reach them at:")
    for name, ep in ctx.endpoints.items():
        # The whole URL, so `psql URL` works: a declared test password is not a
        # secret; one that is registered as a secret is masked by the console.
        ctx.console.info(f"  {name:<12} {ep.url}")
    ctx.console.info(f"rerun stages against them: {runner_command(ctx)} --attach {ctx.run.id} "
                     "--only migrate,test")
    ctx.console.info(f"tear them down: {teardown}")


def runner_command(ctx: RunContext) -> str:
    return f"python {relative(ctx.service.directory / 'ci' / 'tier3.py', Path.cwd())}"
