"""The run result cache: which changes invalidate a passed run, and what is never stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ci import runcache
from ci.service import Service, secret, var


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    svc = tmp_path / "services" / "shop"
    (svc / "migrations").mkdir(parents=True)
    (svc / "migrations" / "001_init.sql").write_text("CREATE TABLE a (id int);\n")
    (svc / "tests").mkdir()
    (svc / "tests" / "test_a.py").write_text("def test_a():\n    assert True\n")
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    (site / "psycopg-3.2.0.dist-info").mkdir(parents=True)
    (tmp_path / "venv" / "pyvenv.cfg").write_text("version = 3.11.7\n")
    return tmp_path


def _service(checkout: Path) -> Service:
    return Service(root=checkout / "services" / "shop", env={"TESTING": "true"},
                   requires=[var("SHOP_LIMIT", default="5"),
                             secret("SHOP_TOKEN", local_default="tok-local-value")])


def _run(checkout: Path, name: str, exit_code: int) -> Path:
    run_dir = checkout / "artifacts" / "integration" / "shop" / name
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({
        "service": "shop", "backend": "local", "exit_code": exit_code,
        "ended": "2026-11-23T10:00:00+00:00"}))
    return run_dir


def _kw(checkout: Path, **env: str) -> dict[str, object]:
    return {"backend": "local", "env_name": "local", "prefix": checkout / "venv",
            "environ": {"PATH": "/usr/bin", **env}}


def test_a_passed_run_is_a_hit_until_one_migration_changes(checkout: Path) -> None:
    service = _service(checkout)
    run_dir = _run(checkout, "20261123T100000Z", 0)
    entry = runcache.store(service, run_dir, **_kw(checkout))  # type: ignore[arg-type]
    assert entry is not None and entry.parent == checkout / ".tiers" / "cache" / "runs" / "shop"

    hit = runcache.lookup(service, **_kw(checkout))  # type: ignore[arg-type]
    assert hit is not None
    assert (hit.exit_code, hit.run_dir, hit.when) == (0, run_dir, "2026-11-23T10:00:00+00:00")
    assert hit.describe().startswith("cached: passed at 2026-11-23T10:00:00+00:00 (")

    (checkout / "services/shop/migrations/001_init.sql").write_text("CREATE TABLE a (id bigint);\n")
    assert runcache.lookup(service, **_kw(checkout)) is None  # type: ignore[arg-type]
    reasons = runcache.why_not(service, **_kw(checkout))  # type: ignore[arg-type]
    assert "migrations changed" in reasons
    assert "packages changed" not in reasons


def test_a_failed_run_is_never_stored_and_evicts_a_pass(checkout: Path) -> None:
    service = _service(checkout)
    failed = _run(checkout, "20261123T100000Z", 1)
    assert runcache.store(service, failed, **_kw(checkout)) is None  # type: ignore[arg-type]
    assert not list((checkout / ".tiers").rglob("*.json"))
    assert runcache.lookup(service, **_kw(checkout)) is None  # type: ignore[arg-type]

    passed = _run(checkout, "20261123T100100Z", 0)
    assert runcache.store(service, passed, **_kw(checkout)) is not None  # type: ignore[arg-type]
    again = _run(checkout, "20261123T100200Z", 1)
    assert runcache.store(service, again, **_kw(checkout)) is None  # type: ignore[arg-type]
    assert runcache.lookup(service, **_kw(checkout)) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("change, reason", [
    (lambda c: (c / "venv/lib/python3.11/site-packages/psycopg-3.2.0.dist-info").rename(
        c / "venv/lib/python3.11/site-packages/psycopg-3.2.1.dist-info"), "packages changed"),
    (lambda c: (c / "services/shop/tests/test_a.py").write_text("def test_a():\n    pass\n"),
     "service changed"),
])
def test_inputs_that_invalidate(checkout: Path, change: object, reason: str) -> None:
    service = _service(checkout)
    runcache.store(service, _run(checkout, "r1", 0), **_kw(checkout))  # type: ignore[arg-type]
    change(checkout)  # type: ignore[operator]
    assert runcache.lookup(service, **_kw(checkout)) is None  # type: ignore[arg-type]
    assert reason in runcache.why_not(service, **_kw(checkout))  # type: ignore[arg-type]


def test_declared_vars_env_name_and_backend_are_part_of_the_key(checkout: Path) -> None:
    service = _service(checkout)
    runcache.store(service, _run(checkout, "r1", 0), **_kw(checkout))  # type: ignore[arg-type]
    assert runcache.lookup(service, **_kw(checkout, SHOP_LIMIT="6")) is None  # type: ignore[arg-type]
    assert runcache.lookup(service, **{**_kw(checkout), "env_name": "ci"}) is None  # type: ignore[arg-type]
    assert runcache.lookup(service, **{**_kw(checkout), "backend": "compose"}) is None  # type: ignore[arg-type]
    # Secrets are not part of the key, and their values never reach the entry.
    assert runcache.lookup(service, **_kw(checkout, SHOP_TOKEN="other-value")) is not None  # type: ignore[arg-type]
    text = "".join(p.read_text() for p in (checkout / ".tiers").rglob("*.json"))
    assert "tok-local-value" not in text


def test_no_cache_and_missing_artifacts_are_misses(checkout: Path) -> None:
    service = _service(checkout)
    run_dir = _run(checkout, "r1", 0)
    runcache.store(service, run_dir, **_kw(checkout))  # type: ignore[arg-type]
    assert runcache.lookup(service, **_kw(checkout), no_cache=True) is None  # type: ignore[arg-type]
    assert runcache.lookup(service, **_kw(checkout, TIERS_NO_CACHE="1")) is None  # type: ignore[arg-type]
    (run_dir / "run.json").unlink()
    assert runcache.lookup(service, **_kw(checkout)) is None  # type: ignore[arg-type]


def test_caches_and_bytecode_do_not_change_the_service_digest(checkout: Path) -> None:
    folder = checkout / "services" / "shop"
    before = runcache.tree_digest(folder)
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (folder / ".pytest_cache").mkdir()
    (folder / ".coverage").write_text("x")
    assert runcache.tree_digest(folder) == before
