"""How to start each kind of server as a plain local process.

Each function prepares the server's private directory and returns the started
:class:`Child`; none waits for readiness (that is the wait stage's job, with
real probes). Settings trade durability for speed: these clusters live for one
test run.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

from ci.backends.local.binaries import Binary
from ci.backends.local.processes import Child, spawn
from ci.errors import ConfigError, InfraError
from ci.service import Backing

# PostgreSQL refuses to run as root; when we are root its processes run as this
# user instead. ``nobody`` exists everywhere and needs no account creation.
PG_USER_ENV = "TIERS_PG_USER"


def _unprivileged_user() -> str | None:
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


def _give_to(user: str | None, *paths: Path) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for path in paths:
        os.chown(path, entry.pw_uid, entry.pw_gid)


def start_postgres(
    backing: Backing, binary: Binary, workdir: Path, port: int, env: Mapping[str, str]
) -> Child:
    bindir = binary.path.parent
    user = _unprivileged_user()
    data = workdir / "data"
    pwfile = workdir / "pwfile"
    pwfile.write_text((backing.password or "") + "\n")
    _give_to(user, workdir, pwfile)
    log = workdir / "server.log"
    run_env = {**env, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    # Superuser named as the suite expects; UTF-8 C.UTF-8 cluster; password auth on
    # TCP (like a real server), trust only on the private unix socket.
    initdb = [
        str(bindir / "initdb"), "-D", str(data), "--no-sync", "-E", "UTF8",
        "--locale=C.UTF-8", "-U", backing.user or "postgres", f"--pwfile={pwfile}",
        "--auth-host=scram-sha-256", "--auth-local=trust",
    ]
    _run_setup("initdb", initdb, run_env, user, log, backing)
    if backing.database and backing.database != "postgres":
        single = [str(bindir / "postgres"), "--single", "-D", str(data), "-j", "postgres"]
        sql = f'CREATE DATABASE "{backing.database}" OWNER "{backing.user or "postgres"}";\n'
        _run_setup("create database", single, run_env, user, log, backing, stdin=sql)
    argv = [
        str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(workdir),
        "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
        "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        "-c", "max_connections=200",
    ]
    # SIGQUIT: immediate shutdown. The cluster is thrown away, so no checkpoint.
    return spawn(backing.name, argv, log=log, env=run_env, user=user,
                 stop_signal=signal.SIGQUIT)


def _run_setup(
    what: str,
    argv: list[str],
    env: Mapping[str, str],
    user: str | None,
    log: Path,
    backing: Backing,
    stdin: str | None = None,
) -> None:
    with open(log, "ab") as out:
        result = subprocess.run(
            argv, input=stdin.encode() if stdin else None, stdout=out, stderr=subprocess.STDOUT,
            env=dict(env), user=user, check=False, timeout=120,
        )
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise InfraError(
            f"{backing.name}: {what} failed with exit code {result.returncode}:\n{tail}",
            hint=f"run as {user!r}: the binaries and temp dir must be readable by that user"
            if user else "",
        )


def start_redis(
    backing: Backing, binary: Binary, workdir: Path, port: int, env: Mapping[str, str]
) -> Child:
    argv = [
        str(binary.path), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
        "--appendonly", "no", "--dir", str(workdir), "--daemonize", "no",
        "--protected-mode", "no",
    ]
    return spawn(backing.name, argv, log=workdir / "server.log", env=env)


def start_nats(
    backing: Backing, binary: Binary, workdir: Path, port: int, env: Mapping[str, str]
) -> Child:
    argv = [str(binary.path), "-a", "127.0.0.1", "-p", str(port), "-n", backing.name]
    if backing.jetstream:
        argv += ["-js", "-sd", str(workdir / "jetstream")]
    return spawn(backing.name, argv, log=workdir / "server.log", env=env)


def start_command(
    backing: Backing, workdir: Path, port: int, env: Mapping[str, str], cwd: Path
) -> Child:
    if not backing.command:
        raise ConfigError(
            f"backend {backing.name} ({backing.kind}) has no command for the local backend",
            hint=f"declare it as {backing.kind}({backing.name!r}, command=[..., '{{port}}'])",
        )
    argv = [part.format(port=port, host="127.0.0.1") for part in backing.command]
    return spawn(backing.name, argv, log=workdir / "server.log", env=env, cwd=cwd)
