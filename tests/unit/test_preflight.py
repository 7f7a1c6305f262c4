"""Checks made before a single server starts: each mistake is exit 2 naming its file or key."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from ci import Suite, nats, postgres, redis
from ci.errors import ConfigError
from ci.exit_codes import ExitCode
from ci.service import Service
from ci.tier3 import preflight


def service(tmp_path: Path, **kwargs: object) -> Service:
    root = tmp_path / "services" / "svc"
    (root / "tests").mkdir(parents=True, exist_ok=True)
    (root / "migrations").mkdir(exist_ok=True)
    kwargs.setdefault("suite", Suite("tests"))
    return Service(root=root, **kwargs)  # type: ignore[arg-type]


def problems(svc: Service) -> str:
    with pytest.raises(ConfigError) as info:
        preflight.check(svc)
    assert info.value.code == ExitCode.CONFIG
    assert "nothing was started" in info.value.hint
    return info.value.message


def test_a_valid_service_passes(tmp_path: Path) -> None:
    svc = service(tmp_path, backends=[postgres("db")])
    (svc.directory / "migrations" / "001_a.sql").write_text("CREATE TABLE a (id int);")
    preflight.check(svc)


def test_a_suite_path_typo_suggests_the_nearest_name(tmp_path: Path) -> None:
    svc = service(tmp_path, suite=Suite("test"))
    assert "Suite path 'test' does not exist" in problems(svc)
    assert "did you mean 'tests'" in problems(svc)


def test_a_suite_node_id_is_checked_by_its_file(tmp_path: Path) -> None:
    svc = service(tmp_path, suite=Suite("tests/test_a.py::test_x"))
    (svc.directory / "tests" / "test_a.py").write_text("")
    preflight.check(svc)


@pytest.mark.parametrize("name", ["002_x.SQL", "003_y.sql.txt", "004_z.psql"])
def test_a_migration_that_would_be_ignored_is_named(tmp_path: Path, name: str) -> None:
    svc = service(tmp_path, backends=[postgres("db")])
    (svc.directory / "migrations" / name).write_text("SELECT 1;")
    (svc.directory / "migrations" / "README.md").write_text("how to add one")
    text = problems(svc)
    assert f"migrations/{name} is not applied" in text and "rename it" in text


@pytest.mark.parametrize("sql", ["BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;",
                                 "CREATE TABLE a (id int);\ncommit ;"])
def test_transaction_control_in_a_migration_is_refused(tmp_path: Path, sql: str) -> None:
    svc = service(tmp_path, backends=[postgres("db")])
    (svc.directory / "migrations" / "001_a.sql").write_text(sql)
    assert "001_a.sql contains" in problems(svc)


def test_a_function_body_with_begin_is_not_transaction_control(tmp_path: Path) -> None:
    svc = service(tmp_path, backends=[postgres("db")])
    (svc.directory / "migrations" / "001_f.sql").write_text(
        "CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END $$ LANGUAGE plpgsql;\n"
        "-- COMMIT in a comment\nSELECT 'COMMIT';")
    preflight.check(svc)


def test_a_missing_migrations_folder_is_named(tmp_path: Path) -> None:
    svc = service(tmp_path, backends=[postgres("db")], migrations="db/migrations")
    assert "migrations folder services/svc/db/migrations does not exist" in problems(svc)


def test_sql_migrations_without_a_database_are_named(tmp_path: Path) -> None:
    svc = service(tmp_path, backends=[redis("cache")])
    (svc.directory / "migrations" / "001_a.sql").write_text("SELECT 1;")
    assert "no declared backend takes them" in problems(svc)


def test_an_export_naming_an_unknown_backend_suggests_one(tmp_path: Path) -> None:
    svc = service(tmp_path, backends=[redis("cache")], export={"ADDR": "{cahce.host}"})
    text = problems(svc)
    assert "export ADDR" in text and "did you mean 'cache'" in text


def test_a_missing_probe_module_says_to_use_the_sessions_venv(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "nats" else real(name, *a))
    svc = service(tmp_path, backends=[nats("bus")])
    text = problems(svc)
    assert "lacks: nats" in text and "nox -s integration-svc" in text


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    svc = service(tmp_path, backends=[redis("a"), redis("a")], suite=Suite("nope"),
                  export={"X": "{b.host}"})
    text = problems(svc)
    assert text.startswith("service svc: 3 problems found before starting anything")
