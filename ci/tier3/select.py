"""Which backend a run uses, and why (always said on one line)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ci.service import Service

ENV_BACKEND = "TIERS_BACKEND"


def docker_answers(timeout: float = 2.0) -> bool:
    """True when a Docker daemon responds to a ping (not merely installed)."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host and not Path("/var/run/docker.sock").exists():
        return False
    try:
        import docker

        client = docker.from_env(timeout=int(max(1, timeout)))
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def choose(cli_value: str | None, service: Service,
           environ: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """``(backend, reason)``: --backend, TIERS_BACKEND, the declared default, then auto."""
    if cli_value and cli_value != "auto":
        return cli_value, "--backend"
    env_value = environ.get(ENV_BACKEND, "")
    if env_value and env_value != "auto":
        return env_value, ENV_BACKEND
    if service.default_backend and service.default_backend != "auto" and not cli_value:
        return service.default_backend, "declared in tier3.py"
    if not service.compose_path.exists():
        return "local", f"auto: no compose file {service.compose_path.name} for this service"
    if docker_answers():
        return "compose", "auto: a Docker daemon answers"
    return "local", "auto: no Docker daemon answers"
