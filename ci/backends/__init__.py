"""Ways to run backing services: ``local`` processes, ``compose``, (later) ``kubernetes``.

Backends register by name here; the engine asks for one by name and never
imports a backend module directly, so adding one touches no engine code.
"""

from __future__ import annotations

import importlib

from ci.backends.base import Backend
from ci.errors import ConfigError

# name -> "module:Class", imported on demand so a missing optional dependency
# of one backend (the Docker SDK, say) cannot break the others.
REGISTRY: dict[str, str] = {
    "local": "ci.backends.local.backend:LocalBackend",
    "compose": "ci.backends.compose.backend:ComposeBackend",
    "kubernetes": "ci.backends.kubernetes.backend:KubernetesBackend",
}


def backend_class(name: str) -> type[Backend]:
    try:
        target = REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown backend {name!r}",
            hint=f"choose one of: auto, {', '.join(REGISTRY)}",
        ) from None
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    cls: type[Backend] = getattr(module, attr)
    return cls


__all__ = ["REGISTRY", "Backend", "backend_class"]
