"""The aggregate session's options, selection, plan, exit-code order and output rules."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
import pytest

from ci.errors import ConfigError
from ci.tier2 import capacity, plan
from ci.tier2.discovery import discover
from ci.tier2.multirun import Printer, worst
from ci.tier2.multirun_args import OPTIONS, parse

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "docs" / "schemas" / "integration-plan.schema.json"


def test_our_options_are_taken_and_the_rest_is_passed_on() -> None:
    args = parse(["--backend", "compose", "-j", "2", "--filter", "a*", "--env=ci",
                  "--filter", "inv", "--fail-fast", "--", "-k", "slow"])
    assert (args.jobs, args.filters, args.fail_fast) == (2, ["a*", "inv"], True)
    assert args.passthrough == ["--backend", "compose", "--env=ci", "--", "-k", "slow"]


@pytest.mark.parametrize("argv, fragment", [
    (["--jobs", "0"], "--jobs must be at least 1"),
    (["--json"], "--json goes with --list or --dry-run"),
    (["--jobs", "many"], "invalid int value"),
    (["--timeout", "-3"], "--timeout must be positive"),
])
def test_bad_options_are_config_errors(argv: list[str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        parse(argv)
    assert int(info.value.code) == 2


def test_filter_by_name_and_glob_and_a_filter_that_matches_nothing() -> None:
    found = discover(ROOT)
    assert [f.name for f in plan.select(found, ["agent*"])] == ["agent_executor"]
    assert [f.name for f in plan.select(found, ["inventory", "agent_executor"])] == [
        "agent_executor", "inventory"]
    assert len(plan.select(found, [])) == len(found) >= 2
    with pytest.raises(ConfigError, match="'nope\\*' matches no service") as info:
        plan.select(found, ["agent*", "nope*"])
    assert "agent_executor" in info.value.hint and "inventory" in info.value.hint


def test_the_examples_plan_validates_against_the_documented_schema() -> None:
    the_plan = plan.build(discover(ROOT), ROOT, filters=[], passthrough=["--backend", "local"],
                          jobs=4, jobs_reason="--jobs", fail_fast=False, timeout=600.0)
    jsonschema.validate(json.loads(json.dumps(the_plan)), json.loads(SCHEMA.read_text()))
    by_name = {s["name"]: s for s in the_plan["services"]}
    assert the_plan["jobs"] == 2  # never more than the services selected
    inv = by_name["inventory"]
    assert inv["images"] == ["postgres:15"]
    assert inv["migrations"]["files"] == ["001_create_items.sql", "002_create_reservations.sql"]
    assert inv["backend"] == "local" and [c["backend"] for c in inv["cache"]] == ["local"]
    assert inv["command"] == ["nox", "-s", "integration-inventory", "--", "--backend", "local"]
    assert by_name["agent_executor"]["backends"][1] == {
        "name": "dragonfly", "kind": "redis", "wait_timeout": 30.0, "port": None,
        "image": "docker.dragonflydb.io/dragonflydb/dragonfly:latest"}


def test_a_plan_missing_a_required_field_fails_the_schema() -> None:
    the_plan = plan.build(discover(ROOT), ROOT, filters=["inventory"], passthrough=[], jobs=1,
                          jobs_reason="--jobs", fail_fast=False, timeout=None,
                          with_cache=False)
    del the_plan["services"][0]["suite"]
    with pytest.raises(jsonschema.ValidationError, match="'suite' is a required property"):
        jsonschema.validate(the_plan, json.loads(SCHEMA.read_text()))


def test_dry_run_table_and_list_name_every_service() -> None:
    the_plan = plan.build(discover(ROOT), ROOT, filters=[], passthrough=[], jobs=2,
                          jobs_reason="--jobs", fail_fast=True, timeout=None, with_cache=False)
    table = "\n".join(plan.render_dry_run(the_plan))
    assert "agent_executor" in table and "inventory" in table
    assert table.rstrip().endswith("dry run: nothing was started")
    assert "2 service(s), 2 at a time (--jobs); --fail-fast" in table
    listing = "\n".join(plan.render_list(the_plan))
    assert "  images      postgres:15  (compose/inventory.yml)" in listing


def test_the_worst_code_wins_in_the_documented_order() -> None:
    assert worst([]) == 0
    assert worst([0, 1, 0]) == 1
    assert worst([1, 2]) == 2
    assert worst([2, 3, 1]) == 3
    assert worst([3, 130, 0]) == 130
    assert worst([1, 7]) == 3  # an undocumented code: the framework cannot name it


def test_workflow_commands_are_never_prefixed_and_everything_else_is() -> None:
    out = io.StringIO()
    printer = Printer(["inventory", "ae"], out)
    printer.line("ae", "::add-mask::value")
    printer.line("ae", "::error file=x.py::boom")
    printer.line("ae", "::group::Stage up")
    printer.line("inventory", "[inventory] up ok")
    assert out.getvalue().splitlines() == [
        "::add-mask::value", "::error file=x.py::boom", "ae        | ::group::Stage up",
        "inventory | [inventory] up ok"]


@pytest.mark.parametrize("cores, free, services, jobs, decided", [
    (2, 16000, 5, 2, "cpus"),
    (8, 256 + 3 * 200, 5, 3, "memory"),
    (8, 16000, 2, 2, "services"),
    (8, 100, 2, 1, "memory"),
])
def test_default_jobs_come_from_the_machine(cores: int, free: int, services: int, jobs: int,
                                            decided: str) -> None:
    got, reason = capacity.default_jobs(services, "local", cores=cores, free_mb=free)
    assert got == jobs
    assert reason.startswith(f"default from {decided}: {cores} CPUs")


def test_every_option_has_help_in_the_docs() -> None:
    doc = (ROOT / "docs" / "multi-service.md").read_text()
    for opt in OPTIONS:
        assert f"`{opt.flags[0]}" in doc, f"{opt.flags[0]} is not documented"
