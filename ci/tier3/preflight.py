"""Everything that can be checked before a single server starts, checked then.

A typo in a suite path, an export template or a migration's file name used to
surface only after the servers had started (and a 30 s wait later, for a
missing Python module in a probe). Found here, each is a ConfigError (exit 2,
"nothing was started") that names the file or key and, where it can, the
nearest valid name.
"""

from __future__ import annotations

import difflib
import importlib.util
import re
from pathlib import Path

from ci.backing import Backing
from ci.endpoints import render_template
from ci.errors import ConfigError
from ci.probes import client_modules
from ci.service import Service, relative
from ci.tier3 import migrations


def did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check(service: Service, *, session_hint: str = "") -> None:
    """Raise one ConfigError listing every problem found; return when there is none."""
    problems = list(service.problems())
    if all(isinstance(b, Backing) for b in service.backends):  # the checks below read them
        problems += _modules(service, session_hint)
        problems += _migrations(service)
        problems += _suite(service)
        problems += _exports(service)
    if problems:
        raise ConfigError(
            f"service {service.name}: {len(problems)} problem"
            f"{'s' if len(problems) > 1 else ''} found before starting anything:\n    "
            + "\n    ".join(problems),
            hint="fix them in tier3.py (or the files named); nothing was started")


def _modules(service: Service, session_hint: str) -> list[str]:
    missing = [m for m in client_modules(service.backends)
               if importlib.util.find_spec(m) is None]
    if not missing:
        return []
    venv = service.repo_root / ".nox" / f"integration-{service.name.replace('_', '-')}"
    for candidate in (venv, service.repo_root / ".nox" / f"integration-{service.name}"):
        if (candidate / "bin" / "activate").exists():
            venv = candidate
            break
    how = session_hint or (f"activate the session's venv (`source {relative(venv, Path.cwd())}"
                           f"/bin/activate`) or run `nox -s integration-{service.name}`")
    return [f"the probes need Python modules this interpreter lacks: {', '.join(missing)}; "
            f"{how}"]


def _migrations(service: Service) -> list[str]:
    folder = service.migrations_dir
    if folder is None:
        return []
    target_kinds = [b for b in service.backends if b.kind.takes_migrations]
    label = relative(folder, service.repo_root)
    if not folder.is_dir():
        if service.migrations == "migrations" and not target_kinds:
            return []  # the default, for a service without a database
        return [f"migrations folder {label} does not exist "
                "(create it, or set migrations=None in tier3.py)"]
    files = [p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")]
    if not target_kinds and any(p.suffix == ".sql" for p in files):
        return [f"{label} holds SQL migrations but no declared backend takes them "
                "(declare a postgres(...) backend, or set migrations=None)"]
    problems: list[str] = []
    for path in files:
        if path.suffix == ".sql" or path.name.lower().startswith("readme"):
            continue
        if re.match(r"\d", path.name) or ".sql" in path.name.lower():
            problems.append(f"{relative(path, service.repo_root)} is not applied: only "
                            "files ending in .sql (lower case) are migrations; rename it")
    for mig in migrations.discover(folder):
        try:
            mig.path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"{relative(mig.path, service.repo_root)} is not UTF-8 text (byte "
                            f"{exc.object[exc.start]:#04x} at offset {exc.start}): save it as "
                            "UTF-8")
            continue
        found = migrations.transaction_control(mig.path.read_text(errors="replace"))
        if found:
            problems.append(
                f"{relative(mig.path, service.repo_root)} contains {found}: each migration "
                "already runs in one transaction with its tracking row, so a COMMIT inside "
                "would leave it half-applied and unrecorded; remove the transaction control")
    return problems


def _suite(service: Service) -> list[str]:
    problems: list[str] = []
    for raw in service.suite.path_list:
        target = raw.split("::", 1)[0]
        path = (service.directory / target)
        if not path.exists():
            here = path.parent if path.parent.is_dir() else service.directory
            choices = [p.name for p in here.iterdir()] if here.is_dir() else []
            problems.append(f"Suite path {raw!r} does not exist under "
                            f"{relative(service.directory, service.repo_root)}"
                            + did_you_mean(Path(target).name, choices))
    for name in service.suite.preload or ():
        top = name.partition(".")[0]
        if any(top == c.partition(".")[0] for c in service.suite.cov_list):
            problems.append(f"Suite(preload=...) names {name!r}, which is under coverage "
                            f"(cov={service.suite.cov!r}): its import-time lines would go "
                            "unmeasured; preload third-party libraries only")
        elif importlib.util.find_spec(top) is None:
            problems.append(f"Suite(preload=...) names {name!r}, which this interpreter "
                            "cannot import; install it or drop it from preload")
    return problems


def _exports(service: Service) -> list[str]:
    names = [b.name for b in service.backends]
    fake = {b.name: b.endpoint("127.0.0.1", b.default_port or 1) for b in service.backends}
    problems: list[str] = []
    for var, template in service.export.items():
        try:
            render_template(template, fake, var)
        except ConfigError:
            refs = re.findall(r"\{([^.{}]+)", template)
            unknown = [r for r in refs if r not in names]
            hint = did_you_mean(unknown[0], names) if unknown else ""
            problems.append(f"export {var}={template!r} refers to "
                            f"{unknown[0] if unknown else 'an unknown attribute'}, which is not "
                            f"a declared backend{hint}; backends: {', '.join(names) or 'none'}; "
                            "attributes: host, port, url, user, password, database, address")
    return problems
