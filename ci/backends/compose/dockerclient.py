"""One way to open the Docker SDK client, with a message that says what to do.

The SDK is imported lazily so that ``import ci.backends.compose`` works on a
machine without it (the local backend must still run there).
"""

from __future__ import annotations

from typing import Any

from ci.errors import InfraError

HINT = ("start the Docker daemon (dockerd) or choose `--backend local`; "
        "`.ci/run` installs and starts one in CI")


def client(timeout: int = 60) -> Any:
    """A connected ``docker.DockerClient`` (API version negotiated with the daemon)."""
    try:
        import docker
    except ImportError:  # pragma: no cover - a declared dependency
        raise InfraError("the Docker SDK for Python is not installed",
                         hint="pip install 'docker>=7'") from None
    try:
        cli = docker.from_env(timeout=timeout)
        cli.ping()
    except Exception as exc:
        raise InfraError(f"no Docker daemon answers: {exc}", hint=HINT) from None
    return cli
