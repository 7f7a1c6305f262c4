"""Apply ordered ``*.sql`` files with psycopg, each once, each in its own transaction.

The tracking row is written in the same transaction as the file's statements,
so a failed or killed migration leaves no "dirty" state to repair by hand
(golang-migrate #282): the file simply is not recorded and runs again next
time. Each applied file's SHA-256 is kept; editing an applied file is an error
instead of being silently ignored (dbmate's blind spot).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ci.endpoints import Endpoint
from ci.errors import ConfigError, InfraError

TABLE = "tiers_schema_migrations"


@dataclass(frozen=True)
class Migration:
    name: str
    path: Path
    checksum: str


@dataclass(frozen=True)
class Outcome:
    applied: list[str]
    skipped: list[str]


def discover(folder: Path) -> list[Migration]:
    if not folder.is_dir():
        raise ConfigError(f"migrations folder {folder} does not exist",
                          hint="create it, or set migrations=None in tier3.py")
    files = sorted(folder.glob("*.sql"))
    return [Migration(f.name, f, hashlib.sha256(f.read_bytes()).hexdigest()) for f in files]


_QUOTED = re.compile(
    r"\$(?P<tag>[A-Za-z_]*)\$.*?\$(?P=tag)\$"  # dollar-quoted bodies (plpgsql BEGIN ... END)
    r"|'(?:[^']|'')*'"                        # string literals
    r"|--[^\n]*"                              # line comments
    r"|/\*.*?\*/",                            # block comments
    re.DOTALL,
)
_TRANSACTION = re.compile(
    r"(?:^|;)\s*(BEGIN|COMMIT|ROLLBACK|END|START\s+TRANSACTION|SAVEPOINT|"
    r"RELEASE|PREPARE\s+TRANSACTION)\b[^;]*(?:;|$)",
    re.IGNORECASE,
)


def transaction_control(sql: str) -> str | None:
    """The first transaction-control statement of ``sql`` outside bodies, or None.

    Each file runs inside one transaction with its tracking row; its own
    ``COMMIT`` would end that transaction early and leave the file half
    applied and unrecorded, so such files are refused before anything starts.
    """
    match = _TRANSACTION.search(_QUOTED.sub(" ", sql))
    if match is None:
        return None
    return " ".join(match.group(1).upper().split())


def digest(folder: Path) -> str:
    """One hash of every migration's name and content: what a cached database is keyed by."""
    h = hashlib.sha256()
    for mig in discover(folder):
        h.update(f"{mig.name}\0{mig.checksum}\n".encode())
    return h.hexdigest()


def apply(endpoint: Endpoint, folder: Path) -> Outcome:
    import psycopg

    migrations = discover(folder)
    applied: list[str] = []
    skipped: list[str] = []
    with psycopg.connect(
        host=endpoint.host, port=endpoint.port, user=endpoint.user,
        password=endpoint.password, dbname=endpoint.database, autocommit=True,
    ) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} ("
            " filename text PRIMARY KEY, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = conn.execute(f"SELECT filename, checksum FROM {TABLE}").fetchall()
        done: dict[str, str] = dict(rows)
        for mig in migrations:
            if mig.name in done:
                if done[mig.name] != mig.checksum:
                    raise InfraError(
                        f"migration {mig.path} was changed after it was applied "
                        f"(recorded sha256 {done[mig.name][:12]}, now {mig.checksum[:12]})",
                        hint="add a new migration file instead of editing an applied one, "
                        "or start from fresh backends",
                    )
                skipped.append(mig.name)
                continue
            sql = mig.path.read_text()
            try:
                with conn.transaction():
                    conn.execute(sql.encode())  # bytes: no client-side parameter parsing
                    conn.execute(
                        f"INSERT INTO {TABLE} (filename, checksum) VALUES (%s, %s)",
                        (mig.name, mig.checksum),
                    )
            except psycopg.Error as exc:
                diag = exc.diag
                where = f" (line {_line_of(sql, diag.statement_position)})" if (
                    diag.statement_position) else ""
                before = ", ".join([*skipped, *applied]) or "none"
                raise InfraError(
                    f"migration {mig.path} failed{where}: {diag.message_primary or exc}"
                    f"\n  applied before it: {before}; not applied: {mig.name} and every "
                    "file after it",
                    hint="fix the file; nothing of it was applied (each file is one "
                    "transaction)",
                ) from None
            applied.append(mig.name)
    return Outcome(applied, skipped)


def _line_of(sql: str, position: str | None) -> int:
    try:
        offset = int(position or "0")
    except ValueError:
        return 0
    return sql[: max(0, offset - 1)].count("\n") + 1
