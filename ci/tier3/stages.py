"""The six stages of a Tier 3 run, each a plain function of the run context.

Like nox's workflow: each stage does one thing, reads what earlier stages left
in the context, and returns a short detail for its report line. Raising ends
the run (the engine still collects and tears down). The order and the names
come from :mod:`ci.stages`; this module only says what each one does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ci.endpoints import suite_env
from ci.probes.wait import wait_all
from ci.stages import Stage
from ci.tier3 import migrations
from ci.tier3.context import RunContext
from ci.tier3.suite import prestart, run_suite

StageFn = Callable[[RunContext], str]


def up(ctx: RunContext) -> str:
    ctx.started_backends = True
    if Stage.TEST in ctx.selected:
        ctx.prestarted = prestart(ctx)  # pytest loads while the backends start
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
    if ctx.use_cache and ctx.backend.cached_migrations(target) == digest:
        return f"cached (hash {digest[:12]}): started from an already migrated {target.name}"
    outcome = target.kind.migrate(ctx.endpoints[target.name], folder)
    ctx.backend.migrated(target, digest)
    text = f"{len(outcome.applied)} applied"
    if outcome.skipped:
        text += f", {len(outcome.skipped)} already applied"
    return f"{text} to {target.name}"


def test(ctx: RunContext) -> str:
    resolve_endpoints(ctx)
    return run_suite(ctx)


def collect(ctx: RunContext) -> str:
    written = ctx.backend.collect(ctx.artifacts / "logs", failed=ctx.failed)
    return f"{len(written)} log files"


def down(ctx: RunContext) -> str:
    ctx.backend.down()
    return "everything stopped and removed"


FUNCTIONS: Mapping[Stage, StageFn] = {
    Stage.UP: up, Stage.WAIT: wait, Stage.MIGRATE: migrate, Stage.TEST: test,
    Stage.COLLECT: collect, Stage.DOWN: down,
}
