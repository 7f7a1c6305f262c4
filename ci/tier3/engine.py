"""Run the stages in order inside one teardown guard.

Set-up happens *inside* the guard (pytest-docker #33 started containers
before the ``try`` that owned their cleanup): whatever ``up`` managed to start
before failing, ``down`` removes. Collect and down run after success, test
failure, an exception, Ctrl-C and SIGTERM, shielded from a second signal.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Collection

from ci.errors import Interrupted, TiersError
from ci.exit_codes import ExitCode
from ci.masking import redact
from ci.tier3.artifacts import write_run_json
from ci.tier3.context import RunContext, StageResult
from ci.tier3.signals import shielded, sigterm_unwinds
from ci.tier3.stages import STAGES
from ci.tier3.suite import PYTEST_EXIT

SETUP_AND_TEST = ("up", "wait", "migrate", "test")


def run_stage(ctx: RunContext, name: str) -> None:
    """Run one stage with its hooks, timed, reported on one line as it finishes."""
    start = time.monotonic()
    status, detail = "ok", ""
    try:
        with ctx.console.group(name):
            for hook in ctx.service.hooks.get(f"before_{name}", []):
                hook(ctx)
            detail = STAGES[name](ctx)
            for hook in ctx.service.hooks.get(f"after_{name}", []):
                hook(ctx)
        if name == "test" and ctx.failed:
            status = "failed"
    except (KeyboardInterrupt, Interrupted):
        status, detail = "interrupted", ""
        raise
    except BaseException as exc:
        status = "failed"
        detail = exc.message.splitlines()[0] if isinstance(exc, TiersError) else repr(exc)
        raise
    finally:
        seconds = time.monotonic() - start
        ctx.stages.append(StageResult(name, status, seconds, detail))
        ctx.console.stage(name, status, seconds, detail)


def sweep(ctx: RunContext) -> None:
    removed = ctx.backend.sweep()
    if removed:
        ctx.console.info(f"swept {len(removed)} leftovers of earlier runs whose owner is gone:")
        for line in removed:
            ctx.console.info(f"  removed {line}")


def run(ctx: RunContext, stages: Collection[str] = tuple(STAGES)) -> int:
    code: int = ExitCode.OK
    with sigterm_unwinds():
        try:
            if "up" in stages:
                sweep(ctx)
            for name in SETUP_AND_TEST:
                if name in stages:
                    run_stage(ctx, name)
            if ctx.test_exit is not None:
                code = PYTEST_EXIT.get(ctx.test_exit, ExitCode.TESTS_FAILED)
        except TiersError as exc:
            ctx.failed = True
            code, ctx.error = exc.code, exc.message
            ctx.console.error(exc.render())
        except (KeyboardInterrupt, Interrupted) as exc:
            ctx.failed = True
            code, ctx.error = ExitCode.INTERRUPTED, f"interrupted ({exc or 'SIGINT'})"
            ctx.console.error(f"{ctx.error}: tearing down")
        except Exception as exc:
            ctx.failed = True
            code, ctx.error = ExitCode.INFRA, f"unexpected error: {exc!r}"
            ctx.console.error(redact(traceback.format_exc()))
        finally:
            with shielded(f"[{ctx.console.prefix}] signal noted: finishing teardown first"):
                code = _finish(ctx, stages, code)
    return code


def _finish(ctx: RunContext, stages: Collection[str], code: int) -> int:
    for name in ("collect", "down"):
        if name not in stages:
            continue
        if name == "down" and ctx.keep:
            _keep(ctx)
            continue
        try:
            run_stage(ctx, name)
        except Exception as exc:  # teardown trouble must not hide the first error
            ctx.console.error(f"{name} failed: {exc}")
            if code == ExitCode.OK:
                code = ExitCode.INFRA
    write_run_json(ctx, code)
    _report_to_github(ctx)
    verdict = "passed" if code == 0 else f"exit {code}"
    tests = f" ({ctx.tests.summary()})" if ctx.tests else ""
    ctx.console.info(f"{ctx.service.name}: {verdict}{tests}; artifacts: {ctx.artifacts}")
    return code


def _keep(ctx: RunContext) -> None:
    teardown = ctx.backend.keep()
    ctx.stages.append(StageResult("down", "skipped", 0.0, "--keep"))
    ctx.console.info("backends kept running (--keep). Reach them at:")
    for name, ep in ctx.endpoints.items():
        ctx.console.info(f"  {name:<12} {ep.public_url()}")
    ctx.console.info(f"rerun stages against them: {_runner(ctx)} --attach {ctx.run.id} "
                     "--only migrate,test")
    ctx.console.info(f"tear them down: {teardown}")


def _runner(ctx: RunContext) -> str:
    return f"python services/{ctx.service.name}/ci/tier3.py"


def _report_to_github(ctx: RunContext) -> None:
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    try:
        from ci.tier1.github import report_to_github
    except ImportError:
        return
    junit = ctx.artifacts / "junit.xml"
    report_to_github(ctx.artifacts / "run.json", junit if junit.exists() else None)
