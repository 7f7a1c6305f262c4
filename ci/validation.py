"""Check a service's declared environment, reporting every problem at once.

Shared by Tier 2 (before installing anything) and Tier 3 (so running Tier 3
alone fails the same way). Returns the values to add to the environment, and
notes to print; raises one :class:`ConfigError` naming every missing or
malformed variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ci.errors import ConfigError
from ci.service import Service


def in_ci(environ: Mapping[str, str]) -> bool:
    return environ.get("CI", "").lower() == "true"


@dataclass
class Resolution:
    values: dict[str, str] = field(default_factory=dict)
    """Values to add (defaults, local placeholders); never includes what was already set."""
    notes: list[str] = field(default_factory=list)


def resolve_env(service: Service, environ: Mapping[str, str]) -> Resolution:
    result = Resolution()
    problems: list[str] = []
    ci = in_ci(environ)
    for var in service.requires:
        value = environ.get(var.name)
        if not value:
            if var.default is not None:
                result.values[var.name] = var.default
                continue
            if var.local_default is not None and not ci:
                result.values[var.name] = var.local_default
                result.notes.append(
                    f"{var.name} is not set: using a local placeholder (CI is not true)"
                )
                continue
            if var.required:
                where = f" (SSM parameter {var.ssm})" if var.ssm else ""
                problems.append(f"{var.name}: required but not set{where}")
            continue
        if var.pattern and not re.fullmatch(var.pattern, value):
            shown = "value hidden" if var.secret else f"got {value!r}"
            problems.append(f"{var.name}: does not match {var.pattern!r} ({shown})")
    if problems:
        raise ConfigError(
            f"service {service.name}: environment is not valid:\n    "
            + "\n    ".join(problems),
            hint="set the variables (or put them in .env.local), or run through "
            f"`nox -s integration-{service.name}` to fetch secrets from Parameter Store",
        )
    return result
