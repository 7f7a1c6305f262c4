"""Reading what a compose file declares: services, images, networks, volumes.

Only the names are needed (to label what compose creates and to know which
images to build), so a plain YAML read plus compose-style ``${VAR:-default}``
interpolation is enough; running ``docker compose config`` would cost a second
of Python start-up on compose v1 for every run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ci.errors import ConfigError

_VAR = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


def interpolate(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Compose's variable syntax: ``$VAR``, ``${VAR}``, ``${VAR:-default}``,
    ``${VAR-default}`` and ``$$``."""
    env = os.environ if environ is None else environ

    def substitute(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        if match.group("plain"):
            return env.get(match.group("plain"), "")
        body = match.group("braced")
        for sep in (":-", "-", ":?", "?"):
            if sep in body:
                name, _, default = body.partition(sep)
                value = env.get(name)
                if sep.startswith(":") and not value:
                    value = None
                if value is None:
                    return default if "-" in sep else ""
                return value
        return env.get(body, "")

    return _VAR.sub(substitute, text)


@dataclass
class ComposeModel:
    path: Path
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    networks: list[str] = field(default_factory=list)
    """Networks the project creates (not ``external``); ``default`` always."""
    volumes: list[str] = field(default_factory=list)
    """Named volumes the project creates (not ``external``)."""

    def images(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """service -> image reference, for services that name an image."""
        out: dict[str, str] = {}
        for name, spec in self.services.items():
            image = spec.get("image")
            if isinstance(image, str):
                out[name] = interpolate(image, environ)
        return out


def _owned(section: Any) -> list[str]:
    if not isinstance(section, dict):
        return []
    names = []
    for name, spec in section.items():
        if isinstance(spec, dict) and spec.get("external"):
            continue
        names.append(str(name))
    return names


def load(path: Path) -> ComposeModel:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"compose file {path} does not exist",
                          hint="create it, or set Service(compose_file=...)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"compose file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        raise ConfigError(f"compose file {path} has no `services:` mapping")
    services = {str(k): (v if isinstance(v, dict) else {}) for k, v in data["services"].items()}
    networks = _owned(data.get("networks"))
    if "default" not in networks:
        networks.insert(0, "default")
    return ComposeModel(path=path, services=services, networks=networks,
                        volumes=_owned(data.get("volumes")))
