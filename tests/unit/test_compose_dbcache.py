"""PostgreSQL test settings and the migrated-database cache key, without Docker."""

from __future__ import annotations

from typing import Any

import pytest

from ci import postgres
from ci.backends.compose import dbcache, teardown

ARGS = postgres().kind.server_args()


def test_a_postgres_service_without_command_gets_test_settings(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(dbcache.DURABLE_ENV, raising=False)
    assert dbcache.test_command({"image": "postgres:15"}, ARGS) == [
        "postgres", "-c", "fsync=off", "-c", "synchronous_commit=off",
        "-c", "full_page_writes=off"]


@pytest.mark.parametrize("spec", [{"command": ["postgres", "-c", "x=1"]},
                                  {"entrypoint": ["/bin/sh"]}])
def test_a_service_with_its_own_command_is_left_alone(spec: dict[str, Any]) -> None:
    assert dbcache.test_command(spec, ARGS) is None


def test_opt_out_keeps_durable_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(dbcache.DURABLE_ENV, "1")
    assert dbcache.test_command({"image": "postgres:15"}, ARGS) is None


def test_no_cache_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(dbcache.NO_CACHE_ENV, "1")
    assert dbcache.no_cache_requested()
    monkeypatch.setenv(dbcache.NO_CACHE_ENV, "0")
    assert not dbcache.no_cache_requested()


@pytest.mark.parametrize(("spec", "why"), [
    ({"volumes": ["pgdata:/var/lib/postgresql/data"]}, "mounts volumes"),
    ({"environment": ["PGDATA=/data"]}, "sets PGDATA"),
    ({"environment": {"PGDATA": "/data"}}, "sets PGDATA"),
    ({"environment": {"POSTGRES_USER": "x"}}, None),
])
def test_which_services_can_be_cached(spec: dict[str, Any], why: str | None) -> None:
    found = dbcache.why_not_cacheable(spec)
    assert (found is None) if why is None else (why in str(found))


KEY = dbcache.CacheKey("agent_executor", "postgres", "sha256:" + "a" * 64, '{"s":1}', "b" * 64)


@pytest.mark.parametrize("part", ["image", "settings", "migrations"])
def test_every_part_changes_the_hash_and_is_named(part: str) -> None:
    changed = dbcache.CacheKey(**{**KEY.__dict__, part: "something else"})
    assert changed.hash != KEY.hash
    assert changed.changes(KEY.labels()).startswith(f"{part} changed (")
    assert KEY.changes(KEY.labels()) == "built by an older version of the framework"


def test_reference_and_labels() -> None:
    assert KEY.reference == f"tiers-cache/agent_executor-postgres:{KEY.hash}"
    assert len(KEY.hash) == 16
    assert KEY.labels()[dbcache.CACHE_LABEL] == "agent_executor/postgres"


def test_a_slow_shell_pid_1_is_explained() -> None:
    entry = {"Names": ["/p_svc_1"], "Command": "sh -c 'sleep 1000'"}
    line = teardown.slow_reason(entry, 10.2)
    assert "p_svc_1 took 10.2s" in line and "PID 1 is a shell" in line and "exec" in line
    other = teardown.slow_reason({"Names": ["/q"], "Command": "postgres"}, 3.0)
    assert "PID 1: `postgres`" in other


def test_the_declaration_opts_out() -> None:
    durable = postgres(test_settings=False).kind.server_args()
    assert dbcache.test_command({"image": "postgres:15"}, durable) is None


def test_an_image_removed_while_listed_is_left_out() -> None:
    """Another run removed one between the listing and the read-back (the SDK's list raises)."""
    import docker.errors

    class Api:
        def images(self, filters: dict[str, str]) -> list[dict[str, str]]:
            assert filters == {"label": f"{dbcache.CACHE_LABEL}=svc/db"}
            return [{"Id": "sha256:gone"}, {"Id": "sha256:kept"}]

    class Images:
        def get(self, image_id: str) -> str:
            if image_id == "sha256:gone":
                raise docker.errors.ImageNotFound("no such image")
            return image_id

    class Client:
        api, images = Api(), Images()

    assert dbcache.cache_images(Client(), "svc/db") == ["sha256:kept"]
