"""What ``nox -s integration`` would run: the selected services and everything about them.

The plan is built from the declarations alone (discovery + each runner's
``service``), starts nothing and needs neither Docker nor a database, so
``--list`` and ``--dry-run`` work on any machine. Its JSON form is versioned
(``schema``) and described by docs/schemas/integration-plan.schema.json.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ci import runcache
from ci.errors import ConfigError, TiersError
from ci.service import Service
from ci.tier2.discovery import Found, load_service
from ci.tier2.prepare import environment_name
from ci.tier3.migrations import digest as migrations_digest

SCHEMA = "tiers.integration-plan/1"
BACKENDS = ("local", "compose")


def select(found: Sequence[Found], filters: Sequence[str]) -> list[Found]:
    """Services whose name equals or globs one of ``filters`` (all of them without filters)."""
    if not filters:
        return list(found)
    names = [f.name for f in found]
    unmatched = [p for p in filters if not fnmatch.filter(names, p)]
    if unmatched:
        raise ConfigError(f"--filter {', '.join(repr(p) for p in unmatched)} matches no service",
                          hint=f"services: {', '.join(names) or '(none)'}")
    return [f for f in found if any(fnmatch.fnmatchcase(f.name, p) for p in filters)]


def option_value(args: Sequence[str], name: str) -> str | None:
    """The value of ``--name X`` / ``--name=X`` among pass-through args (last one wins)."""
    value: str | None = None
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == name and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def venv_of(repo_root: Path, name: str) -> Path:
    """Where nox keeps ``integration-<name>``'s environment (nox's path normalisation)."""
    session = re.sub(r"[^\w\s-]", "-", f"integration-{name}").strip().lower()
    return repo_root / ".nox" / re.sub(r"[-\s]+", "-", session).strip("-")


def cache_status(service: Service, repo_root: Path, *, backend: str, env_name: str,
                 environ: Mapping[str, str]) -> dict[str, Any]:
    """Whether a cached pass for this backend and env would still stand, and why not."""
    prefix = venv_of(repo_root, service.name)
    if not prefix.is_dir():
        return {"backend": backend, "valid": False,
                "detail": "no session environment yet (never run here)"}
    kwargs: dict[str, Any] = {"backend": backend, "env_name": env_name, "environ": environ,
                              "prefix": prefix}
    hit = runcache.lookup(service, **kwargs)
    if hit is not None:
        return {"backend": backend, "valid": True, "detail": hit.describe(),
                "run_dir": _rel(hit.run_dir, repo_root)}
    return {"backend": backend, "valid": False,
            "detail": "; ".join(runcache.why_not(service, **kwargs))}


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def service_plan(found: Found, repo_root: Path, *, passthrough: Sequence[str],
                 timeout: float | None, with_cache: bool,
                 environ: Mapping[str, str]) -> dict[str, Any]:
    service = load_service(found)
    backend = option_value(passthrough, "--backend") or environ.get("TIERS_BACKEND") or (
        service.default_backend or "auto")
    env_name = environment_name(option_value(passthrough, "--env"), environ)
    compose = service.compose_path
    images = runcache.compose_image_map(service, environ) if compose.exists() else {}
    mig = service.migrations_dir
    files = sorted(p.name for p in mig.glob("*.sql")) if mig and mig.is_dir() else []
    plan: dict[str, Any] = {
        "name": service.name,
        "summary": found.summary,
        "runner": _rel(found.runner, repo_root),
        "session": f"integration-{service.name}",
        "command": ["nox", "-s", f"integration-{service.name}",
                    *(["--", *passthrough] if passthrough else [])],
        "backend": backend,
        "env_name": env_name,
        "backends": [
            {"name": b.name, "kind": b.kind_name, "image": images.get(b.compose_name),
             "port": b.port, "wait_timeout": b.timeout}
            for b in service.backends
        ],
        "compose_file": _rel(compose, repo_root) if compose.exists() else None,
        "images": sorted(set(images.values())),
        "migrations": {
            "folder": _rel(mig, repo_root) if mig and mig.is_dir() else None,
            "files": files,
            "digest": (migrations_digest(mig) if files and mig else None),
        },
        "suite": {"paths": service.suite.path_list, "test_timeout": service.suite.timeout,
                  "coverage": service.suite.cov_list},
        "timeout": timeout,
        "artifacts": f"artifacts/integration/{service.name}/",
        "cache": [],
    }
    if with_cache:
        candidates = [backend] if backend in BACKENDS else [
            b for b in BACKENDS if b == "local" or compose.exists()]
        plan["cache"] = [cache_status(service, repo_root, backend=b, env_name=env_name,
                                      environ=environ) for b in candidates]
    return plan


def build(found: Sequence[Found], repo_root: Path, *, filters: Sequence[str],
          passthrough: Sequence[str], jobs: int, jobs_reason: str, fail_fast: bool,
          timeout: float | None, with_cache: bool = True,
          environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    env = dict(os.environ if environ is None else environ)
    chosen = select(found, filters)
    services: list[dict[str, Any]] = []
    errors: list[str] = []
    for f in chosen:
        try:
            services.append(service_plan(f, repo_root, passthrough=passthrough,
                                         timeout=timeout, with_cache=with_cache, environ=env))
        except TiersError as exc:
            errors.append(exc.render())
    if errors:
        raise ConfigError("cannot plan the run:\n" + "\n".join(errors))
    return {
        "schema": SCHEMA,
        "filters": list(filters),
        "jobs": min(jobs, max(1, len(services))),
        "jobs_reason": jobs_reason,
        "fail_fast": fail_fast,
        "timeout": timeout,
        "passthrough": list(passthrough),
        "services": services,
    }


# -- human output ---------------------------------------------------------------
def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*headers).rstrip(), fmt.format(*("-" * w for w in widths)).rstrip()]
    lines += [fmt.format(*r).rstrip() for r in rows]
    return lines


def _cache_cell(svc: Mapping[str, Any]) -> str:
    cells = []
    for c in svc["cache"]:
        if c["valid"]:
            cells.append(f"{c['backend']}: valid")
        else:
            cells.append(f"{c['backend']}: {c['detail']}")
    return "; ".join(cells) or "-"


def render_list(plan: Mapping[str, Any]) -> list[str]:
    """``--list``: one block per service, every field on its own line."""
    lines: list[str] = []
    for svc in plan["services"]:
        lines.append(f"{svc['name']}  ({svc['runner']})")
        if svc["summary"]:
            lines.append(f"  {svc['summary']}")
        backs = ", ".join(f"{b['name']} ({b['kind']}, wait {b['wait_timeout']:g}s)"
                          for b in svc["backends"]) or "none"
        lines.append(f"  backends    {backs}; run with: {svc['backend']}")
        lines.append(f"  images      {', '.join(svc['images']) or '-'}"
                     + (f"  ({svc['compose_file']})" if svc["compose_file"] else ""))
        mig = svc["migrations"]
        lines.append(f"  migrations  {', '.join(mig['files']) or '-'}"
                     + (f"  ({mig['folder']})" if mig["folder"] else ""))
        suite = svc["suite"]
        lines.append(f"  suite       {', '.join(suite['paths'])}  (per-test timeout "
                     f"{suite['test_timeout']}s; session timeout "
                     f"{_seconds(svc['timeout'])})")
        for c in svc["cache"]:
            state = "valid" if c["valid"] else "not valid"
            lines.append(f"  cache       {c['backend']}: {state}: {c['detail']}")
    return lines


def render_dry_run(plan: Mapping[str, Any]) -> list[str]:
    """``--dry-run``: the table of what would run, then how."""
    rows = [[svc["name"], svc["backend"], ", ".join(b["name"] for b in svc["backends"]) or "-",
             str(len(svc["migrations"]["files"])), ", ".join(svc["suite"]["paths"]),
             _seconds(svc["timeout"]), _cache_cell(svc)]
            for svc in plan["services"]]
    lines = _table(["service", "backend", "backing", "migrations", "suite", "timeout",
                    "cache"], rows)
    lines.append("")
    lines.append(f"{len(rows)} service(s), {plan['jobs']} at a time ({plan['jobs_reason']})"
                 + ("; --fail-fast" if plan["fail_fast"] else ""))
    for svc in plan["services"]:
        lines.append(f"  {shlex.join(svc['command'])}")
    lines.append("dry run: nothing was started")
    return lines


def _seconds(value: float | None) -> str:
    return "none" if value is None else f"{value:g}s"
