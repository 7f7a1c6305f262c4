"""The migrated-database cache and PostgreSQL test settings on a real Docker engine.

Each test uses a service name of its own, so the cache images it builds
(``tiers-cache/<service>-db``) are its own and are removed at the end.
"""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ci import Service, postgres
from ci.backends.compose import dbcache, sweep
from ci.backends.compose.backend import ComposeBackend
from ci.backends.compose.images import ensure_images
from ci.console import Console
from ci.probes.wait import wait_for
from ci.runinfo import RunInfo
from ci.tier3 import migrations
from tests.prereqs import need_docker

pytestmark = [pytest.mark.integration, pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[2]
PG = postgres("db", database="demo", user="test", password="test")
COMPOSE = """
services:
  db:
    image: postgres:15
    environment: {POSTGRES_USER: test, POSTGRES_PASSWORD: test, POSTGRES_DB: demo}
    ports: ["127.0.0.1::5432"]
    healthcheck:
      test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "test", "-d", "demo"]
      interval: 1s
      retries: 30
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    need_docker()
    import docker

    ensure_images(ROOT / "compose" / "agent_executor.yml", Console(prefix="test-images"))
    name = f"cache{uuid.uuid4().hex[:8]}"
    root = tmp_path / "checkout"
    (root / "compose").mkdir(parents=True)
    (root / "compose" / f"{name}.yml").write_text(COMPOSE)
    folder = root / "services" / name / "migrations"
    folder.mkdir(parents=True)
    (folder / "001_widgets.sql").write_text("CREATE TABLE widgets (id int);\n")
    yield root, name
    cli = docker.from_env()
    for image in dbcache.cache_images(cli, f"{name}/db"):
        cli.images.remove(image.id, force=True)
    cli.close()


def one_run(root: Path, name: str) -> tuple[str, dict[str, Any]]:
    """up, wait, migrate (or not, when cached), look at the database, down."""
    import psycopg

    out = io.StringIO()
    service = Service(root=root / "services" / name, name=name, backends=[PG],
                      migrations="migrations")
    backend = ComposeBackend(service, RunInfo(name, root), Console(prefix="t", stream=out))
    seen: dict[str, Any] = {}
    try:
        backend.up()
        wait_for(backend, PG)
        folder = root / "services" / name / "migrations"
        digest = migrations.digest(folder)
        seen["cached"] = backend.cached_migrations(PG) == digest
        if not seen["cached"]:
            migrations.apply(backend.endpoint(PG), folder)
            backend.migrated(PG, digest)
        with psycopg.connect(backend.endpoint(PG).url) as conn:
            seen["tables"] = sorted(r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
            seen["fsync"] = conn.execute("SHOW fsync").fetchone()
            seen["synchronous_commit"] = conn.execute("SHOW synchronous_commit").fetchone()
            seen["full_page_writes"] = conn.execute("SHOW full_page_writes").fetchone()
    finally:
        backend.down()
    assert sweep.leftovers(backend.docker, root, backend.run.id) == []
    return out.getvalue(), seen


def test_second_run_starts_migrated_and_a_changed_migration_rebuilds(
        checkout: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import docker

    root, name = checkout
    monkeypatch.delenv(dbcache.NO_CACHE_ENV, raising=False)
    monkeypatch.delenv(dbcache.DURABLE_ENV, raising=False)
    cli = docker.from_env()

    text, seen = one_run(root, name)
    assert "none yet for db" in text and "saved db as tiers-cache/" in text, text
    assert seen["cached"] is False
    assert seen["fsync"] == ("off",) and seen["synchronous_commit"] == ("off",)
    assert seen["full_page_writes"] == ("off",)
    first = dbcache.cache_images(cli, f"{name}/db")
    assert len(first) == 1

    text, seen = one_run(root, name)
    assert "db starts from tiers-cache/" in text, text
    assert seen["cached"] is True
    assert seen["tables"] == ["tiers_schema_migrations", "widgets"]  # nothing applied
    assert seen["fsync"] == ("off",)

    folder = root / "services" / name / "migrations"
    (folder / "002_gadgets.sql").write_text("CREATE TABLE gadgets (id int);\n")
    text, seen = one_run(root, name)
    assert "cache for db invalidated: migrations changed" in text, text
    assert seen["cached"] is False
    assert seen["tables"] == ["gadgets", "tiers_schema_migrations", "widgets"]
    second = dbcache.cache_images(cli, f"{name}/db")
    assert len(second) == 2  # the old one stays for a branch that still has 1 migration

    text, seen = one_run(root, name)
    assert seen["cached"] is True and "gadgets" in seen["tables"]

    (folder / "002_gadgets.sql").unlink()  # back to the first branch: its cache is there
    text, seen = one_run(root, name)
    assert seen["cached"] is True and seen["tables"] == ["tiers_schema_migrations", "widgets"]
    assert {i.id for i in first} <= {i.id for i in dbcache.cache_images(cli, f"{name}/db")}
    (folder / "002_gadgets.sql").write_text("CREATE TABLE gadgets (id int);\n")

    before = {i.id for i in dbcache.cache_images(cli, f"{name}/db")}
    monkeypatch.setenv(dbcache.NO_CACHE_ENV, "1")
    text, seen = one_run(root, name)
    assert f"not used for db (--no-cache / {dbcache.NO_CACHE_ENV}=1)" in text, text
    assert seen["cached"] is False
    assert "saved db as tiers-cache/" in text, text  # rebuilt, not just bypassed
    after = {i.id for i in dbcache.cache_images(cli, f"{name}/db")}
    assert len(after - before) == 1 and len(after) == len(before)  # replaced in place
    cli.close()


def test_durable_opt_out_keeps_fsync_on(checkout: tuple[Path, str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    root, name = checkout
    monkeypatch.setenv(dbcache.DURABLE_ENV, "1")
    monkeypatch.setenv(dbcache.NO_CACHE_ENV, "1")
    _text, seen = one_run(root, name)
    assert seen["fsync"] == ("on",)


def test_a_prune_leaves_another_runs_commit_in_flight(
        checkout: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs racing to fill the cache: one's prune ran between another's commit and tag."""
    import docker

    _root, name = checkout
    cli = docker.from_env()
    ours = dbcache.CacheKey(name, "db", "sha256:image", "{}", "migrations-a")
    theirs = dbcache.CacheKey(name, "db", "sha256:image", "{}", "migrations-b")
    container = cli.containers.create("postgres:15", command=["true"])
    try:
        in_flight = str(cli.api.commit(container.id, conf={"Labels": theirs.labels()})["Id"])
        assert dbcache.prune_superseded(cli, ours) == []
        survivor = cli.images.get(in_flight)
        assert survivor.labels[dbcache.KEY_LABEL] == theirs.hash

        # Left by a run that died between the two steps, long ago: a leftover.
        monkeypatch.setattr(dbcache, "UNTAGGED_GRACE_S", 0.0)
        assert dbcache.prune_superseded(cli, ours) == [survivor.short_id]
        with pytest.raises(docker.errors.ImageNotFound):
            cli.images.get(in_flight)
    finally:
        container.remove(force=True)
        cli.close()


def test_runs_racing_to_fill_an_empty_cache_leave_one_image(
        checkout: tuple[Path, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import docker

    _root, name = checkout
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))
    cli = docker.from_env()
    key = dbcache.CacheKey(name, "db", "sha256:image", "{}", "migrations")
    containers = [cli.containers.create("postgres:15", command=["true"]) for _ in range(4)]
    try:
        # Four commits done; the four runs then look for the tag at the same moment.
        committed = [str(cli.api.commit(c.id, conf={"Labels": key.labels()})["Id"])
                     for c in containers]
        barrier = threading.Barrier(len(committed))

        def claim(image_id: str) -> bool:
            barrier.wait()
            return dbcache.claim(cli, image_id, key)

        with ThreadPoolExecutor(len(committed)) as pool:
            saved = list(pool.map(claim, committed))
        assert sorted(saved) == [False, False, False, True]
        images = dbcache.cache_images(cli, key.owner)
        assert [i.tags for i in images] == [[key.reference]]
    finally:
        for container in containers:
            container.remove(force=True)
        cli.close()
