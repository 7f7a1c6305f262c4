"""Project names, the label override file, and the sweep's choice of what to remove."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ci import keep
from ci.backends.compose import composefile, sweep
from ci.runinfo import RunInfo

COMPOSE = """
services:
  postgres:
    image: postgres:15
    volumes: [pgdata:/var/lib/postgresql/data]
  nats:
    image: "nats:${NATS_TAG:-2.10-alpine}"
networks:
  back: {}
  shared: {external: true}
volumes:
  pgdata: {}
  outside: {external: true}
"""


def test_project_name_is_service_and_short_run_id() -> None:
    assert sweep.project_name("agent_executor", "9f7b0a4d1234") == "agent_executor-9f7b0a4d"
    assert sweep.project_name("My.Service", "abc") == "my-service-abc"


def test_override_labels_services_networks_and_owned_volumes(tmp_path: Path) -> None:
    path = tmp_path / "stack.yml"
    path.write_text(COMPOSE)
    model = composefile.load(path)
    run = RunInfo("svc", tmp_path, id="run12345", owner="42:99")
    written = sweep.write_override(model, run, tmp_path / "run")
    doc = json.loads(written.read_text())  # JSON is YAML: compose reads it as is
    labels = run.labels()
    assert set(doc["services"]) == {"postgres", "nats"}
    assert all(spec["labels"] == labels for spec in doc["services"].values())
    assert set(doc["networks"]) == {"default", "back"}  # not the external one
    assert set(doc["volumes"]) == {"pgdata"}
    assert labels["io.tiers.owner"] == "42:99"
    assert labels["io.tiers.checkout"] == str(tmp_path)


def test_images_are_interpolated(tmp_path: Path) -> None:
    path = tmp_path / "stack.yml"
    path.write_text(COMPOSE)
    model = composefile.load(path)
    assert model.images({}) == {"postgres": "postgres:15", "nats": "nats:2.10-alpine"}
    assert model.images({"NATS_TAG": "2.11"})["nats"] == "nats:2.11"


@pytest.mark.parametrize(("text", "env", "expected"), [
    ("${A:-x}", {}, "x"), ("${A:-x}", {"A": ""}, "x"), ("${A-x}", {"A": ""}, ""),
    ("$A/${B}", {"A": "1", "B": "2"}, "1/2"), ("$$A", {"A": "1"}, "$A"),
    ("127.0.0.1:${P:-0}:5432", {"P": "15433"}, "127.0.0.1:15433:5432"),
])
def test_interpolate(text: str, env: dict[str, str], expected: str) -> None:
    assert composefile.interpolate(text, env) == expected


# -- sweep decisions, against a fake Docker API ----------------------------------
@dataclass
class Thing:
    name: str
    labels: dict[str, str]
    removed: bool = False
    vanished: bool = False
    """Removed by someone else between the list and our remove (the daemon says 404)."""

    def entry(self) -> dict[str, Any]:
        return {"Id": self.name, "Names": [f"/{self.name}"], "Name": self.name,
                "Labels": self.labels}


@dataclass
class FakeAPI:
    containers_: list[Thing] = field(default_factory=list)
    networks_: list[Thing] = field(default_factory=list)
    volumes_: list[Thing] = field(default_factory=list)

    def containers(self, **_kw: Any) -> list[dict[str, Any]]:
        return [t.entry() for t in self.containers_ if not t.removed]

    def networks(self, **_kw: Any) -> list[dict[str, Any]]:
        return [t.entry() for t in self.networks_ if not t.removed]

    def volumes(self, **_kw: Any) -> dict[str, Any]:
        return {"Volumes": [t.entry() for t in self.volumes_ if not t.removed]}

    def _remove(self, things: list[Thing], key: str) -> None:
        import docker.errors

        thing = next(t for t in things if t.name == key)
        if thing.vanished or thing.removed:
            thing.removed = True  # gone now, whoever removed it
            raise docker.errors.NotFound(f"No such object: {key}")
        thing.removed = True

    def remove_container(self, cid: str, **_kw: Any) -> None:
        self._remove(self.containers_, cid)

    def remove_network(self, nid: str) -> None:
        self._remove(self.networks_, nid)

    def remove_volume(self, name: str, **_kw: Any) -> None:
        self._remove(self.volumes_, name)


@dataclass
class FakeDocker:
    api: FakeAPI


def labels(run_id: str, owner: str, checkout: Path) -> dict[str, str]:
    return {"io.tiers.run-id": run_id, "io.tiers.owner": owner,
            "io.tiers.checkout": str(checkout), "io.tiers.service": "svc"}


def test_sweep_removes_only_dead_unkept_runs_of_this_checkout(tmp_path: Path) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    dead = Thing("dead_pg_1", labels("dead0001", "1:1", here))
    live = Thing("live_pg_1", labels("live0001", "2:2", here))
    other = Thing("other_pg_1", labels("othr0001", "1:1", there))
    kept_run = Thing("kept_pg_1", labels("kept0001", "1:1", here))
    net = Thing("dead_default", labels("dead0001", "1:1", here))
    vol = Thing("dead_pgdata", labels("dead0001", "1:1", here))
    keep.save(here, keep.KeptRun("kept0001", "svc", "compose", {}, "down"))
    cli = FakeDocker(FakeAPI([dead, live, other, kept_run], [net], [vol]))
    removed = sweep.sweep(cli, here, alive=lambda owner: owner == "2:2")
    assert [t.removed for t in (dead, live, other, kept_run, net, vol)] == [
        True, False, False, False, True, True]
    assert removed == [
        "container dead_pg_1 (run dead0001, owner pid 1 gone)",
        "network dead_default (run dead0001, owner pid 1 gone)",
        "volume dead_pgdata (run dead0001, owner pid 1 gone)",
    ]


def test_teardown_mode_removes_one_run_even_if_kept(tmp_path: Path) -> None:
    a = Thing("a", labels("run0000a", "1:1", tmp_path))
    b = Thing("b", labels("run0000b", "1:1", tmp_path))
    keep.save(tmp_path, keep.KeptRun("run0000a", "svc", "compose", {}, "down"))
    cli = FakeDocker(FakeAPI([a, b]))
    sweep.sweep(cli, tmp_path, alive=lambda _o: False, only_runs=["run0000a"],
                include_kept=True)
    assert a.removed and not b.removed


def test_things_another_run_removed_meanwhile_count_as_gone(tmp_path: Path) -> None:
    """Two sweeps of one dead run at once: 404 on remove is "already gone", not an error."""
    first = Thing("dead_pg_1", labels("dead0001", "1:1", tmp_path), vanished=True)
    second = Thing("dead_nats_1", labels("dead0001", "1:1", tmp_path))
    net = Thing("dead_default", labels("dead0001", "1:1", tmp_path), vanished=True)
    vol = Thing("dead_data", labels("dead0001", "1:1", tmp_path), vanished=True)
    cli = FakeDocker(FakeAPI([first, second], [net], [vol]))
    removed = sweep.sweep(cli, tmp_path, alive=lambda _o: False)
    assert removed == ["container dead_nats_1 (run dead0001, owner pid 1 gone)"]


def test_sweep_removes_a_dead_runs_temporary_folder(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(sweep.tempfile, "gettempdir", lambda: str(tmp_path))
    folder = tmp_path / f"{sweep.TEMP_PREFIX}dead0001-x1"
    folder.mkdir()
    (folder / "tiers-labels.override.yml").write_text("{}")
    other = tmp_path / f"{sweep.TEMP_PREFIX}live0001-x2"
    other.mkdir()
    cli = FakeDocker(FakeAPI([Thing("dead_pg_1", labels("dead0001", "1:1", tmp_path))]))
    removed = sweep.sweep(cli, tmp_path, alive=lambda _o: False)
    assert f"temporary folder {folder}" in removed
    assert not folder.exists() and other.exists()


def test_a_network_still_in_use_by_a_container_being_removed_is_retried(
        tmp_path: Path) -> None:
    """Another sweep's container removal is "in progress": its network frees up soon."""
    import docker.errors

    net = Thing("dead_default", labels("dead0001", "1:1", tmp_path))
    api = FakeAPI([], [net])
    calls = {"n": 0}
    real = api.remove_network

    def busy_then_free(nid: str) -> None:
        calls["n"] += 1
        if calls["n"] < 3:
            raise docker.errors.APIError("error while removing network: network "
                                         "dead_default has active endpoints")
        real(nid)

    api.remove_network = busy_then_free  # type: ignore[method-assign]
    removed = sweep.sweep(FakeDocker(api), tmp_path, alive=lambda _o: False)
    assert removed == ["network dead_default (run dead0001, owner pid 1 gone)"]
    assert calls["n"] == 3


def test_teardown_removes_the_run_and_counts_what_was_already_gone(tmp_path: Path) -> None:
    from ci.backends.compose import teardown

    mine = {**labels("run0001", "1:1", tmp_path), "com.docker.compose.project": "svc-run0001"}
    pg = Thing("svc-run0001_pg_1", mine)
    gone_already = Thing("svc-run0001_nats_1", mine, vanished=True)
    net = Thing("svc-run0001_default", mine)
    vol = Thing("svc-run0001_data", mine)
    cli = FakeDocker(FakeAPI([pg, gone_already], [net], [vol]))
    result = teardown.remove_run(cli, "svc-run0001", "run0001")
    assert result.removed == ["container svc-run0001_pg_1", "network svc-run0001_default",
                              "volume svc-run0001_data"]
    assert result.slow == []
    assert sweep.leftovers(cli, tmp_path, "run0001") == []


def test_sweep_removes_a_dead_runs_temp_dir_even_without_containers(
        tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(sweep.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    model = composefile.ComposeModel(path=tmp_path / "c.yml", services={"pg": {}})
    checkout = tmp_path / "checkout"
    dead = sweep.write_override(model, RunInfo("svc", checkout, owner="1:1"),
                                tmp_path / "tmp" / f"{sweep.TEMP_PREFIX}dead0001-a").parent
    live = sweep.write_override(model, RunInfo("svc", checkout, owner="2:2"),
                                tmp_path / "tmp" / f"{sweep.TEMP_PREFIX}live0001-b").parent
    removed = sweep.sweep(FakeDocker(FakeAPI()), checkout, alive=lambda o: o == "2:2")
    assert len(removed) == 1 and removed[0].startswith(f"temporary folder {dead}")
    assert not dead.exists() and live.exists()
