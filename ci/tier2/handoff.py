"""Hand off to Tier 3: the command on-call can rerun, the environment, the exit code.

Secrets reach Tier 3 only in the child's environment, never on its command
line (visible in ``ps``) and never in a file; ``TIERS_SECRET_NAMES`` tells it
*which* variables to mask. The child runs in its own process group and every
SIGINT/SIGTERM Tier 2 receives is forwarded exactly once, so Tier 3 always gets
to tear down, and its exit code is passed through unchanged.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

from ci.masking import ENV_SECRET_NAMES
from ci.service import Service

ENV_NAME_VAR = "TIERS_ENV"


def tier3_script(service: Service) -> str:
    """The runner's path relative to the checkout (commands are run from there)."""
    return str((service.directory / "ci" / "tier3.py").relative_to(service.repo_root))


def tier3_command(service: Service, args: Sequence[str], python: str = "python") -> list[str]:
    return [python, tier3_script(service), *args]


def rerun_hint(service: Service, args: Sequence[str], environment: str,
               secret_names: Sequence[str], venv: str | None) -> list[str]:
    """Lines telling a person how to run exactly this Tier 3 without Tier 2."""
    command = shlex.join(tier3_command(service, args))
    lines = []
    prefix = f"source {venv}/bin/activate && " if venv else ""
    lines.append(f"rerun Tier 3 alone: {prefix}{ENV_NAME_VAR}={shlex.quote(environment)} "
                 f"{command}")
    if secret_names:
        lines.append(f"  (export {', '.join(secret_names)} first; Tier 2 passes them only "
                     "in the environment)")
    return lines


def child_env(base: Mapping[str, str], additions: Mapping[str, str], *, environment: str,
              secret_names: Sequence[str], venv: str | None) -> dict[str, str]:
    env = dict(base)
    env.update(additions)
    env[ENV_NAME_VAR] = environment
    env[ENV_SECRET_NAMES] = ",".join(secret_names)
    if venv:
        env["VIRTUAL_ENV"] = venv
        env["PATH"] = os.pathsep.join([str(Path(venv) / "bin"), env.get("PATH", "")])
        env.pop("PYTHONHOME", None)
    return env


def run_child(cmd: Sequence[str], env: Mapping[str, str], cwd: Path) -> int:
    """Run ``cmd``, forwarding SIGINT/SIGTERM once each time they arrive; return its code."""
    proc = subprocess.Popen(list(cmd), env=dict(env), cwd=cwd, start_new_session=True)

    def forward(signum: int, _frame: FrameType | None) -> None:
        if proc.poll() is None:
            proc.send_signal(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # pragma: no cover - handler replaced above
                forward(signal.SIGINT, None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
