"""Which image names the air-gapped recipe may stand in for, honestly."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.backends.compose import recipes
from ci.backends.compose.recipes import recipe_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("image", "folder"), [
    ("postgres:15", "postgres"), ("docker.io/library/postgres:15.4", "postgres"),
    ("postgres:15-bookworm", "postgres"),
    ("docker.dragonflydb.io/dragonflydb/dragonfly:latest", "redis"),
    ("docker.dragonflydb.io/dragonflydb/dragonfly", "redis"),
    ("redis:7.0", "redis"), ("redis:6.2-bookworm", "redis"),
    ("nats:2.10", "nats"), ("nats:2.10-alpine", "nats"), ("nats:2.15.1-alpine3.20", "nats"),
])
def test_covered(image: str, folder: str) -> None:
    recipe = recipe_for(image)
    assert recipe is not None and recipe.folder == folder


@pytest.mark.parametrize("image", [
    "postgres:16", "postgres:latest", "redis:7.2", "redis:7", "redis:latest",
    "docker.dragonflydb.io/dragonflydb/dragonfly:v1.20.0", "nats:latest", "mysql:8",
])
def test_not_covered_when_the_standin_would_be_older_or_different(image: str) -> None:
    assert recipe_for(image) is None


def test_tag_version_for_nats() -> None:
    recipe = recipe_for("nats:2.10-alpine")
    assert recipe is not None and recipe.tag_version("nats:2.10-alpine") == (2, 10)


def test_every_recipe_folder_has_a_dockerfile_from_the_base() -> None:
    for recipe in recipes.RECIPES:
        dockerfile = ROOT / "images" / recipe.folder / "Dockerfile"
        text = dockerfile.read_text()
        assert "FROM ${BASE}" in text and recipes.BASE_IMAGE in text


def test_example_compose_file_is_fully_covered() -> None:
    from ci.backends.compose import composefile

    model = composefile.load(ROOT / "compose" / "agent_executor.yml")
    images = model.images({})
    assert set(images) == {"postgres", "dragonfly", "nats"}
    assert all(recipe_for(image) is not None for image in images.values())
