"""Tier 2's first step: the environment Tier 3 will get, resolved and validated.

Order matters and is the point of this module: read the .env layers (without
touching ``os.environ``), mask what is secret, fetch from Parameter Store only
what is still missing, mask that too, resolve defaults, then print one table of
every variable and its source (values always masked) and stop with exit 2
listing every problem, all before anything is installed or started.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ci.console import Console
from ci.service import Service
from ci.tier2 import options
from ci.tier2.envfiles import PROCESS_ENV, Layered, label, load_layers
from ci.tier2.retry import RetryPolicy
from ci.tier2.secrets import looks_secret, register_secret
from ci.tier2.ssm import FetchResult, ParameterStore, Wanted, make_client
from ci.validation import LOCAL_PLACEHOLDER, check_env, in_ci, raise_problems

FIXED = "tier3.py env"
NOT_SET = "-"


def environment_name(cli_value: str | None, environ: Mapping[str, str]) -> str:
    """``--env`` beats ``TIERS_ENV``; otherwise ``ci`` under CI=true, else ``local``."""
    if cli_value:
        return cli_value
    if environ.get("TIERS_ENV"):
        return environ["TIERS_ENV"]
    return "ci" if in_ci(environ) else "local"


@dataclass
class Row:
    name: str
    source: str
    is_set: bool
    secret: bool


@dataclass
class Prepared:
    service: Service
    environment: str
    env: dict[str, str] = field(default_factory=dict)
    """What Tier 2 adds to the inherited environment for Tier 3."""
    secret_names: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    layers: Layered = field(default_factory=Layered)
    fetch: FetchResult | None = None

    def raise_if_invalid(self) -> None:
        raise_problems(self.service, self.problems)

    def secrets_to_export(self) -> list[str]:
        """Secrets a person must export to rerun Tier 3 alone.

        Not those already in their shell, nor local placeholders: Tier 3
        applies those itself.
        """
        given = {r.name for r in self.rows if r.source in (PROCESS_ENV, LOCAL_PLACEHOLDER)}
        return [n for n in self.secret_names if n not in given]


StoreFactory = Callable[[Mapping[str, str], Callable[[str], None]], ParameterStore]


def default_store(environ: Mapping[str, str], say: Callable[[str], None]) -> ParameterStore:
    policy = RetryPolicy(
        max_attempts=int(options.number(environ, "TIERS_SSM_MAX_ATTEMPTS", 6)),
        max_seconds=options.number(environ, "TIERS_SSM_MAX_SECONDS", 30.0),
    )
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None
    return ParameterStore(lambda: make_client(environ), policy=policy, say=say, region=region)


def prepare(
    service: Service,
    *,
    environment: str,
    environ: Mapping[str, str] | None = None,
    console: Console | None = None,
    store_factory: StoreFactory = default_store,
) -> Prepared:
    """Resolve ``service``'s environment; never raises for a missing variable (see problems)."""
    environ = dict(os.environ if environ is None else environ)
    console = console or Console(prefix="tier2")
    result = Prepared(service, environment)
    declared = {v.name: v for v in service.requires}

    layers = load_layers(service.repo_root, service.directory, environment, environ)
    result.layers = layers
    sources: dict[str, str] = {k: PROCESS_ENV for k, v in environ.items() if v}
    sources.update(layers.sources)
    merged: dict[str, str] = {k: v for k, v in environ.items() if v}
    merged.update(layers.values)

    secret_names = {n for n, v in declared.items() if v.secret}
    secret_names |= {k for k in layers.values if looks_secret(k)}
    for name in sorted(secret_names):
        if merged.get(name):
            register_secret(merged[name])

    fetch = _fetch(service, merged, console, store_factory, result)
    if fetch is not None:
        result.fetch = fetch
        for var, value in fetch.values.items():
            register_secret(value)  # before anything else can print it
            secret_names.add(var)
            if not merged.get(var):
                merged[var] = value
                sources[var] = f"Parameter Store {fetch.parameters[var]}"
                result.env[var] = value
        result.notes += fetch.notes
        if fetch.stats.calls:
            result.notes.append(fetch.summary())

    resolution = check_env(
        service, merged,
        unavailable=fetch.problems if fetch else None,
        general=fetch.general if fetch else None,
    )
    for name, value in resolution.values.items():
        if declared[name].secret:
            register_secret(value)
        merged[name] = value
        sources[name] = resolution.sources[name]
        result.env[name] = value
    result.notes += resolution.notes
    result.problems = resolution.problems
    result.env.update(layers.values)
    for key, where in layers.shadowed.items():
        result.notes.append(f"{key}: the process env overrides {where}")

    result.secret_names = sorted(n for n in secret_names if merged.get(n))
    names = list(declared) + sorted(k for k in layers.values if k not in declared)
    names += [k for k in service.env if k not in names]
    for name in names:
        if name in service.env and name not in declared and name not in layers.values:
            result.rows.append(Row(name, FIXED, True, False))
            continue
        result.rows.append(Row(name, sources.get(name, NOT_SET), bool(merged.get(name)),
                               name in secret_names))
    return result


def _fetch(
    service: Service,
    merged: dict[str, str],
    console: Console,
    store_factory: StoreFactory,
    result: Prepared,
) -> FetchResult | None:
    """Ask Parameter Store for what is still missing, or say why it is not asked."""
    mode = options.ssm_mode(merged)
    ci = in_ci(merged)
    wanted: list[Wanted] = []
    for var in service.requires:
        if not var.ssm:
            continue
        if merged.get(var.name):
            result.notes.append(f"{var.name}: already set; Parameter Store {var.ssm} not asked")
        elif mode == "never":
            result.notes.append(f"{var.name}: TIERS_SSM=never; {var.ssm} not asked")
        elif var.local_default is not None and not ci and mode == "auto":
            continue  # validation says so, on one line, when it applies the placeholder
        else:
            wanted.append(Wanted(var.name, var.ssm))
    path = service.ssm_path if mode != "never" else None
    if path and mode == "auto" and not ci:
        still_missing = [v for v in service.requires if v.required and not merged.get(v.name)
                         and v.local_default is None and v.default is None and not v.ssm]
        if not still_missing:
            result.notes.append(f"SSM path {path}: not read (CI is not true and nothing "
                                "required is missing)")
            path = None
    if not wanted and not path:
        return None
    store = store_factory(merged, lambda text: console.warn(text))
    names = ", ".join(w.parameter for w in wanted)
    console.info(f"Parameter Store: fetching {len(wanted)} parameter(s)"
                 + (f" [{names}]" if names else "") + (f" and path {path}" if path else ""))
    return store.fetch(wanted, path, already_set=merged)


def render_table(prepared: Prepared) -> str:
    """One line per variable: name, source, set or not, value (always masked)."""
    header = ("VARIABLE", "SOURCE", "STATE", "VALUE")
    body = [(r.name, r.source, "set" if r.is_set else "NOT SET",
             ("*** (secret)" if r.secret else "***") if r.is_set else "")
            for r in prepared.rows]
    widths = [max(len(str(row[i])) for row in [header, *body]) for i in range(4)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *body]]
    return "\n".join(lines)


def report(prepared: Prepared, console: Console) -> None:
    """Print the table and notes (through the masker, as everything)."""
    files = ", ".join(label(p, prepared.service.repo_root)
                      for p in prepared.layers.loaded) or "none"
    console.info(f"environment {prepared.environment!r}; .env files loaded: {files}")
    for line in render_table(prepared).splitlines():
        console.info("  " + line)
    for note in prepared.notes:
        console.info(note)
