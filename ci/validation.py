"""Check a service's declared environment, reporting every problem at once.

Shared by Tier 2 (before installing anything) and Tier 3 (so running Tier 3
alone fails the same way). :func:`check_env` collects; :func:`resolve_env`
raises one :class:`ConfigError` naming every missing or malformed variable.
Tier 2 also passes what Parameter Store could not deliver (``unavailable``), so
a single message names the variable, its parameter and why it could not be read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ci.errors import ConfigError
from ci.service import Service

DEFAULT = "default"
LOCAL_PLACEHOLDER = "local placeholder"


def in_ci(environ: Mapping[str, str]) -> bool:
    return environ.get("CI", "").lower() == "true"


@dataclass
class Resolution:
    values: dict[str, str] = field(default_factory=dict)
    """Values to add (defaults, local placeholders); never includes what was already set."""
    notes: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    """Where each added value came from: ``default`` or ``local placeholder``."""
    problems: list[str] = field(default_factory=list)


def check_env(
    service: Service,
    environ: Mapping[str, str],
    *,
    unavailable: Mapping[str, str] | None = None,
    general: list[str] | None = None,
) -> Resolution:
    """Resolve defaults and collect every problem without raising.

    ``unavailable`` maps a variable to why its SSM parameter could not be read;
    ``general`` adds problems not tied to one variable.
    """
    result = Resolution()
    problems = result.problems
    ci = in_ci(environ)
    missing_why = unavailable or {}
    for var in service.requires:
        value = environ.get(var.name)
        if not value:
            if var.default is not None:
                result.values[var.name] = var.default
                result.sources[var.name] = DEFAULT
                continue
            if var.local_default is not None and not ci:
                result.values[var.name] = var.local_default
                result.sources[var.name] = LOCAL_PLACEHOLDER
                unasked = "; Parameter Store not asked" if var.ssm else ""
                result.notes.append(
                    f"{var.name} is not set: using a local placeholder (CI is not true{unasked})"
                )
                continue
            if var.required:
                if var.name in missing_why and var.ssm:
                    problems.append(f"{var.name}: required but not set; SSM parameter "
                                    f"{var.ssm}: {missing_why[var.name]}")
                else:
                    where = f" (SSM parameter {var.ssm})" if var.ssm else ""
                    problems.append(f"{var.name}: required but not set{where}")
            elif var.name in missing_why:
                result.notes.append(f"{var.name} (optional) not fetched: {missing_why[var.name]}")
            continue
        try:
            matches = not var.pattern or re.fullmatch(var.pattern, value)
        except re.error as exc:
            problems.append(f"{var.name}: pattern={var.pattern!r} in tier3.py is not a regular "
                            f"expression ({exc})")
            continue
        if not matches:
            shown = "value hidden" if var.secret else f"got {value!r}"
            problems.append(f"{var.name}: does not match {var.pattern!r} ({shown})")
    problems.extend(general or [])
    return result


def raise_problems(service: Service, problems: list[str]) -> None:
    if problems:
        raise ConfigError(
            f"service {service.name}: environment is not valid "
            f"({len(problems)} problem{'s' if len(problems) > 1 else ''}):\n    "
            + "\n    ".join(problems),
            hint="set the variables (or put them in .env.local), or run through "
            f"`nox -s integration-{service.name}` to fetch secrets from Parameter Store",
        )


def resolve_env(service: Service, environ: Mapping[str, str]) -> Resolution:
    result = check_env(service, environ)
    raise_problems(service, result.problems)
    return result
