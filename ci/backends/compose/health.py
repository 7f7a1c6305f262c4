"""Container liveness and the Docker healthcheck verdict, read through the SDK.

A wait must end the moment a container is gone for good, not when its timeout
runs out (testcontainers-python#681): an exited container, or one the restart
policy already restarted (it crashed once; the next start may hide that), fails
at once with its exit code and the tail of its logs.
"""

from __future__ import annotations

from typing import Any

from ci.errors import BackendDied


def _state(container: Any, reload: bool = True) -> dict[str, Any]:
    """The container's ``State``; ``reload=False`` when the caller just reloaded it."""
    if reload:
        container.reload()
    state: dict[str, Any] = container.attrs.get("State") or {}
    return state


def native_ready(container: Any, reload: bool = True) -> bool:
    """True when the container has no healthcheck, else when Docker says ``healthy``."""
    health = _state(container, reload).get("Health")
    if not health:
        return True
    return bool(health.get("Status") == "healthy")


def starting(container: Any) -> bool:
    """Docker has not called the container healthy yet, nor given up on it.

    Docker runs the check only every ``interval`` (the first one an interval
    after start), so a server that became ready just after a check waits a
    whole interval to be called healthy.
    """
    health = (container.attrs.get("State") or {}).get("Health") or {}
    return bool(health) and health.get("Status") == "starting"


def healthcheck_argv(container: Any) -> list[str] | None:
    """The container's own healthcheck test as an exec argv; None if it has none."""
    test = ((container.attrs.get("Config") or {}).get("Healthcheck") or {}).get("Test") or []
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    if test[0] == "CMD":
        return [str(part) for part in test[1:]]
    return [str(part) for part in test]


def run_healthcheck(cli: Any, container: Any) -> bool:
    """Run the healthcheck's own command now, as Docker would; True if it exits 0.

    Docker runs the first check only one ``interval`` after start and the
    next ones an interval apart (``start_interval`` needs Docker 25). Running
    the same command now gives the same verdict without the wait.
    """
    argv = healthcheck_argv(container)
    if argv is None:
        return True
    try:
        exec_id = cli.api.exec_create(container.id, argv, stdout=True, stderr=True)["Id"]
        cli.api.exec_start(exec_id)
        code = cli.api.exec_inspect(exec_id).get("ExitCode")
    except Exception:
        return False
    return bool(code == 0)


def health_detail(container: Any) -> str:
    """The last healthcheck output, to explain a wait that timed out."""
    health = (container.attrs.get("State") or {}).get("Health") or {}
    log = health.get("Log") or []
    if not log:
        return ""
    last = log[-1]
    output = str(last.get("Output", "")).strip()
    return f"healthcheck {health.get('Status')}, last exit {last.get('ExitCode')}: {output[-300:]}"


def logs(container: Any, lines: int) -> str:
    data: bytes = container.logs(tail=lines, stdout=True, stderr=True)
    return data.decode("utf-8", "replace")


def check_alive(container: Any, backend: str, tail_lines: int = 20, reload: bool = True) -> None:
    """Raise :class:`BackendDied` if the container exited, died or has restarted.

    ``tail_lines=0`` leaves the log out of the message, for callers (the
    engine's wait) that append the backend's log tail themselves.
    """
    state = _state(container, reload)
    restarts = int(container.attrs.get("RestartCount") or 0)
    status = state.get("Status", "")
    if status in ("exited", "dead") or restarts > 0 or state.get("Restarting"):
        code = state.get("ExitCode")
        what = "restarted" if restarts > 0 and status == "running" else status or "stopped"
        detail = f"exit code {code}"
        if state.get("OOMKilled"):
            detail += ", killed for running out of memory"
        if restarts:
            detail += f", restarted {restarts} time(s)"
        message = f"container {container.name} {what} ({detail})"
        if tail_lines > 0:
            tail = logs(container, tail_lines).rstrip()
            message += f"; last log lines:\n{tail}" if tail else "; it wrote no log"
        raise BackendDied(
            message,
            hint=f"docker logs {container.name} (before teardown), or the run's "
                 f"logs/{backend}.log artifact",
        )
