"""What starting any local server needs: a minimal environment, an unprivileged user.

Kinds (``ci/kinds/<kind>.py``) say how their server is started; these are the
shared parts. A server gets only the environment it needs, never the
runner's: secrets must not sit in the environment of a process that may
outlive the run.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Mapping
from pathlib import Path

from ci.errors import ConfigError, InfraError

# PostgreSQL refuses to run as root; when we are root its processes run as this
# user instead. ``nobody`` exists everywhere and needs no account creation.
PG_USER_ENV = "TIERS_PG_USER"
PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "HOME", "USER", "LOGNAME")
"""The only variables of the runner a server inherits."""


def server_env(environ: Mapping[str, str], tags: Mapping[str, str]) -> dict[str, str]:
    """A server's whole environment: a few harmless variables and the run's tags."""
    env = {k: environ[k] for k in PASSED_THROUGH if k in environ}
    env.update(tags)
    return env


def unprivileged_user() -> str | None:
    if os.geteuid() != 0:
        return None
    name = os.environ.get(PG_USER_ENV, "nobody")
    try:
        pwd.getpwnam(name)
    except KeyError:
        raise ConfigError(
            f"running as root, PostgreSQL must run as another user, and {name!r} does not exist",
            hint=f"set {PG_USER_ENV} to an existing unprivileged user",
        ) from None
    return name


def give_to(user: str | None, *paths: Path) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for path in paths:
        os.chown(path, entry.pw_uid, entry.pw_gid)


def run_setup(backend: str, what: str, argv: list[str], env: Mapping[str, str],
              user: str | None, log: Path, stdin: str | None = None) -> None:
    """Run a one-off set-up command (initdb), its output appended to the server log."""
    with open(log, "ab") as out:
        result = subprocess.run(
            argv, input=stdin.encode() if stdin else None, stdout=out, stderr=subprocess.STDOUT,
            env=dict(env), user=user, check=False, timeout=120,
        )
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise InfraError(
            f"{backend}: {what} failed with exit code {result.returncode}:\n{tail}",
            hint=f"run as {user!r}: the binaries and temp dir must be readable by that user"
            if user else "",
        )
