"""Which cluster a run may touch: the context guard.

A test run creates and deletes namespaces. Pointed at the wrong cluster by a
forgotten ``kubectl config use-context``, that is how production gets a visit,
so the current context is only trusted when it is obviously a local
throw-away cluster; anything else must be named, and CI never falls back to
whatever the current context happens to be.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci.errors import ConfigError

ENV_CONTEXT = "TIERS_KUBE_CONTEXT"
LOCAL_CONTEXTS = ("kind-*", "k3d-*", "minikube", "docker-desktop", "rancher-desktop")


@dataclass(frozen=True)
class Chosen:
    context: str
    reason: str
    kubeconfig: str


def kubeconfig_paths(environ: Mapping[str, str]) -> list[Path]:
    raw = environ.get("KUBECONFIG", "")
    if raw:
        return [Path(p).expanduser() for p in raw.split(os.pathsep) if p]
    return [Path(environ.get("HOME", "~")).expanduser() / ".kube" / "config"]


def read_kubeconfig(environ: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """``(path, merged view)`` with ``current-context`` and ``contexts`` from every file."""
    import yaml

    merged: dict[str, Any] = {"contexts": []}
    first = ""
    for path in kubeconfig_paths(environ):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            continue
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"kubeconfig {path} cannot be read: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"kubeconfig {path} is not a mapping")
        first = first or str(path)
        if not merged.get("current-context"):  # the first file that sets it wins
            merged["current-context"] = data.get("current-context")
        merged["contexts"] += [c for c in data.get("contexts") or [] if isinstance(c, dict)]
    if not first:
        names = ", ".join(str(p) for p in kubeconfig_paths(environ))
        raise ConfigError(f"no kubeconfig found (looked at {names})",
                          hint="create a cluster (kind create cluster) or set KUBECONFIG")
    return first, merged


def is_local(context: str) -> bool:
    return any(fnmatch.fnmatchcase(context, pattern) for pattern in LOCAL_CONTEXTS)


def choose(cli_value: str | None, environ: Mapping[str, str]) -> Chosen:
    """The context to use and why; raises ConfigError rather than guess."""
    path, config = read_kubeconfig(environ)
    known = [str(c.get("name")) for c in config["contexts"]]
    named = cli_value or environ.get(ENV_CONTEXT, "")
    if named:
        if named not in known:
            raise ConfigError(f"kube context {named!r} is not in the kubeconfig {path}",
                              hint=f"contexts there: {', '.join(known) or 'none'}")
        return Chosen(named, "--kube-context" if cli_value else ENV_CONTEXT, path)
    current = str(config.get("current-context") or "")
    if environ.get("CI", "").lower() == "true":
        raise ConfigError("CI=true: the kube context must be named, not taken from "
                          f"the kubeconfig's current context ({current or 'none'})",
                          hint=f"pass --kube-context NAME or set {ENV_CONTEXT}")
    if not current:
        raise ConfigError(f"the kubeconfig {path} has no current context",
                          hint=f"pass --kube-context NAME or set {ENV_CONTEXT}")
    if not is_local(current):
        raise ConfigError(
            f"the current kube context {current!r} is not a well-known local cluster "
            f"({', '.join(LOCAL_CONTEXTS)}); refusing to create namespaces in it unasked",
            hint=f"name it explicitly: --kube-context {current} (or {ENV_CONTEXT})")
    return Chosen(current, "current context, a local cluster", path)
