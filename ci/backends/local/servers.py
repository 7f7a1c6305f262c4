"""How to start each kind of server as a plain local process.

Each function prepares the server's private directory and returns the started
:class:`Child`; none waits for readiness (that is the wait stage's job, with
real probes). Settings trade durability for speed: these clusters live for one
test run.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
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


def _cache_root(user: str | None) -> Path:
    if user is not None:
        # Root's home is private; the unprivileged user must reach its templates.
        return Path("/var/tmp/tiers-pg-templates")
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tiers" / "pg-templates"


def _template_key(backing: Backing, binary: Binary, user: str | None) -> str:
    raw = "|".join([str(binary.path), binary.version_text, backing.user or "",
                    backing.password or "", backing.database or "", user or "", "C.UTF-8"])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _postgres_template(
    backing: Backing, binary: Binary, user: str | None, env: Mapping[str, str], log: Path
) -> Path:
    """An initialised cluster (users, database) to copy: initdb once, not every run.

    initdb is most of a local PostgreSQL start-up; copying its result takes a
    fraction of that. Built in a private dir and renamed into place, so two
    runs building the same template at once cannot see a half-written one.
    """
    root = _cache_root(user)
    final = root / _template_key(backing, binary, user)
    if (final / "PG_VERSION").exists():
        return final
    root.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix="build-", dir=root))
    _give_to(user, build)
    data = build / "data"
    pwfile = build / "pwfile"
    pwfile.write_text((backing.password or "") + "\n")
    _give_to(user, pwfile)
    bindir = binary.path.parent
    # Superuser named as the suite expects; UTF-8 C.UTF-8 cluster; password auth on
    # TCP (like a real server), trust only on the private unix socket.
    initdb = [
        str(bindir / "initdb"), "-D", str(data), "--no-sync", "-E", "UTF8",
        "--locale=C.UTF-8", "-U", backing.user or "postgres", f"--pwfile={pwfile}",
        "--auth-host=scram-sha-256", "--auth-local=trust",
    ]
    try:
        _run_setup("initdb", initdb, env, user, log, backing)
        if backing.database and backing.database != "postgres":
            single = [str(bindir / "postgres"), "--single", "-D", str(data), "-j", "postgres"]
            sql = f'CREATE DATABASE "{backing.database}" OWNER "{backing.user or "postgres"}";\n'
            _run_setup("create database", single, env, user, log, backing, stdin=sql)
        try:
            os.rename(data, final)
        except OSError:
            if not (final / "PG_VERSION").exists():  # lost a race only if the winner finished
                raise
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return final


def start_postgres(
    backing: Backing, binary: Binary, workdir: Path, port: int, env: Mapping[str, str]
) -> Child:
    bindir = binary.path.parent
    user = _unprivileged_user()
    _give_to(user, workdir)
    log = workdir / "server.log"
    run_env = {**env, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    template = _postgres_template(backing, binary, user, run_env, log)
    data = workdir / "data"
    # cp -a keeps the owner and the 0700 mode PostgreSQL insists on.
    subprocess.run(["cp", "-a", str(template), str(data)], check=True)
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
