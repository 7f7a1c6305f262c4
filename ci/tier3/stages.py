"""The six stages of a Tier 3 run, each a plain function of the run context.

Like nox's workflow: each stage does one thing, reads what earlier stages left
in the context, and returns a short detail for its report line. Raising ends
the run (the engine still collects and tears down).
"""

from __future__ import annotations

from collections.abc import Callable

from ci.endpoints import suite_env
from ci.errors import ConfigError
from ci.probes.wait import wait_all
from ci.tier3 import migrations
from ci.tier3.context import RunContext
from ci.tier3.junit import read_junit
from ci.tier3.suite import PYTEST_EXIT, pytest_argv, run_pytest, suite_environ

Stage = Callable[[RunContext], str]


def up(ctx: RunContext) -> str:
    ctx.backend.up()
    return ", ".join(b.name for b in ctx.service.backends)


def resolve_endpoints(ctx: RunContext) -> None:
    """Fill ``ctx.endpoints`` and the suite's env from the backend (idempotent)."""
    if not ctx.endpoints:
        ctx.endpoints = {b.name: ctx.backend.endpoint(b) for b in ctx.service.backends}
    ctx.env.update(suite_env(ctx.endpoints, ctx.service.export))


def wait(ctx: RunContext) -> str:
    ready = wait_all(ctx.backend, ctx.service.backends)
    resolve_endpoints(ctx)
    return ", ".join(f"{r.backing.name} {r.seconds:.2f}s" for r in ready)


def migrate(ctx: RunContext) -> str:
    target = ctx.service.migration_target
    folder = ctx.service.migrations_dir
    if target is None or folder is None:
        return "nothing to migrate"
    resolve_endpoints(ctx)
    digest = migrations.digest(folder)
    if ctx.backend.cached_migrations(target) == digest:
        return f"cached (hash {digest[:12]}) in {target.name}"
    outcome = migrations.apply(ctx.endpoints[target.name], folder)
    ctx.backend.migrated(target, digest)
    text = f"{len(outcome.applied)} applied"
    if outcome.skipped:
        text += f", {len(outcome.skipped)} already applied"
    return f"{text} to {target.name}"


def test(ctx: RunContext) -> str:
    resolve_endpoints(ctx)
    argv = pytest_argv(ctx.service, ctx.artifacts, ctx.pytest_args)
    env = suite_environ(ctx.env, ctx.artifacts)
    code = run_pytest(argv, env, ctx.service.directory, ctx.artifacts / "logs" / "pytest.log")
    ctx.test_exit = code
    ctx.tests = read_junit(ctx.artifacts / "junit.xml")
    if code == 5:
        raise ConfigError(
            f"pytest collected no tests from {ctx.service.suite.path_list} "
            f"(in {ctx.service.directory})",
            hint="check Suite(paths=...) in tier3.py and any -k/-m arguments",
        )
    if code == 4:
        raise ConfigError("pytest rejected its arguments (see its message above)",
                          hint="check Suite(args=...) and the arguments after --")
    if PYTEST_EXIT.get(code, 1) != 0:
        ctx.failed = True
    return ctx.tests.summary() if ctx.tests else f"pytest exit code {code}"


def collect(ctx: RunContext) -> str:
    written = ctx.backend.collect(ctx.artifacts / "logs", failed=ctx.failed)
    return f"{len(written)} log files"


def down(ctx: RunContext) -> str:
    ctx.backend.down()
    return "everything stopped and removed"


STAGES: dict[str, Stage] = {
    "up": up, "wait": wait, "migrate": migrate, "test": test, "collect": collect, "down": down,
}
