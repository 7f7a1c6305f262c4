"""Prerequisites for the framework's own integration tests.

A missing prerequisite (Docker daemon, server binary, moto) skips a test on a
developer's laptop but *fails* it when ``CI=true``: CI must never pass by
silently running nothing.
"""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def need(ok: bool, what: str, how: str) -> None:
    """Skip (locally) or fail (CI=true) unless ``ok``."""
    if ok:
        return
    message = f"prerequisite missing: {what}; {how}"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def need_binary(name: str, how: str) -> str:
    path = shutil.which(name)
    need(path is not None, f"{name} on PATH", how)
    assert path is not None
    return path


def need_servers(*kinds: str, min_version: str | None = None) -> None:
    """The local backend's server binary for each kind (at least ``min_version``)."""
    from ci.backends.local import binaries
    from ci.errors import ConfigError
    from ci.kinds import kind_class

    for kind in kinds:
        spec = kind_class(kind).binaries
        assert spec is not None, f"{kind} has no server binary"
        at_least = f" >= {min_version}" if min_version else ""
        try:
            binaries.find(spec, kind, min_version)
        except ConfigError as exc:
            need(False, f"a local {kind} server binary{at_least}", exc.hint)


def docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=5)
        client.ping()
        client.close()
        return True
    except Exception:
        return False


def need_docker() -> None:
    need(docker_answers(), "a Docker daemon", "start dockerd (`.ci/run` does this)")
