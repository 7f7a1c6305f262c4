"""`nox -s integration -- --list / --filter / --dry-run --json` as a user runs them.

Nothing is started by these commands, so they run in well under a second each.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from tests.prereqs import need

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NOX = Path(sys.executable).parent / "nox"
SCHEMA = json.loads((ROOT / "docs" / "schemas" / "integration-plan.schema.json").read_text())


def integration(*args: str) -> subprocess.CompletedProcess[str]:
    need(NOX.exists(), "nox next to the test interpreter", "pip install nox")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIERS_", "GITHUB_"))}
    env["NOX_SCRIPT_MODE"] = "none"
    return subprocess.run([str(NOX), "-s", "integration", "--", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_list_shows_both_example_services_with_their_cache_state() -> None:
    result = integration("--list")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "agent_executor  (services/agent_executor/ci/tier3.py)" in out
    assert "inventory  (services/inventory/ci/tier3.py)" in out
    assert "  migrations  001_create_items.sql, 002_create_reservations.sql" in out
    assert out.count("  cache       ") >= 2


def test_filter_glob_dry_run_json_is_the_documented_plan() -> None:
    result = integration("--filter", "agent*", "--dry-run", "--json", "--backend", "local")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    jsonschema.validate(plan, SCHEMA)
    assert [s["name"] for s in plan["services"]] == ["agent_executor"]
    assert plan["services"][0]["command"] == [
        "nox", "-s", "integration-agent_executor", "--", "--backend", "local"]
    assert not (ROOT / "artifacts" / "integration" / "agent_executor" / "never").exists()


def test_dry_run_table_starts_nothing() -> None:
    result = integration("--dry-run", "--jobs", "2")
    assert result.returncode == 0, result.stderr
    assert "2 service(s), 2 at a time (--jobs)" in result.stdout
    assert result.stdout.rstrip().endswith("dry run: nothing was started")


def test_a_filter_matching_nothing_exits_2_naming_it() -> None:
    result = integration("--filter", "nope*", "--dry-run")
    assert result.returncode == 2
    assert "--filter 'nope*' matches no service" in result.stdout + result.stderr


@pytest.mark.slow
def test_both_example_services_side_by_side_without_clashes(tmp_path: Path) -> None:
    """The issue's bar: `--jobs 2` runs both, at once, each with its own run id and ports."""
    need(NOX.exists(), "nox next to the test interpreter", "pip install nox")
    need(bool(shutil.which("pg_ctl") or list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))),
         "PostgreSQL server binaries", "apt-get install postgresql-15 (`.ci/run` does this)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIERS_", "GITHUB_"))}
    env.update({"NOX_SCRIPT_MODE": "none", "TIERS_ARTIFACTS_DIR": str(tmp_path),
                "TIERS_RESULT_CACHE": "off",
                # Under CI=true no placeholder stands in for the example's secret; its
                # suite talks to an in-test stub, so any well-formed key will do.
                "OPENAI_API_KEY": "sk-multirun-test-key"})
    result = subprocess.run([str(NOX), "-s", "integration", "--", "--jobs", "2", "--backend",
                             "local"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    summary = json.loads((tmp_path / "integration" / "summary.json").read_text())
    rows = {s["name"]: s for s in summary["services"]}
    assert set(rows) >= {"agent_executor", "inventory"}
    assert all(rows[n]["status"] == "passed" for n in ("agent_executor", "inventory"))
    a, b = rows["agent_executor"], rows["inventory"]
    assert a["run_id"] != b["run_id"]
    assert a["offset"] < b["offset"] + b["seconds"] and b["offset"] < a["offset"] + a["seconds"]
    ports = []
    for row in (a, b):
        run = json.loads((tmp_path / "integration" / row["links"]["run_json"]).read_text())
        ports += [url.rsplit(":", 1)[1].split("/")[0] for url in run["endpoints"].values()]
        assert (tmp_path / "integration" / row["links"]["session_log"]).stat().st_size > 0
    assert len(ports) == len(set(ports)), ports
    prefixed = [line.split(" | ", 1)[0].strip() for line in result.stdout.splitlines()
                if " | " in line]
    assert {"agent_executor", "inventory"} <= set(prefixed)
