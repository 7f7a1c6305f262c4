"""docs/images.md's supported-images tables are generated from the recipes."""

from __future__ import annotations

import dataclasses

import pytest

from ci.backends.compose import recipes


def test_docs_images_table_is_fresh() -> None:
    current = recipes.DOC.read_text(encoding="utf-8")
    assert recipes.render_doc(current) == current, (
        "docs/images.md is stale: run `python -m ci.backends.compose.recipes`")


def test_both_tables_are_in_the_doc_and_name_every_recipe() -> None:
    text = recipes.DOC.read_text(encoding="utf-8")
    for block in recipes.BLOCKS:
        assert f"<!-- BEGIN GENERATED: {block} -->" in text
    for recipe in recipes.RECIPES:
        assert recipe.ships in text
    assert "| `redis:7.4` | needs redis 7.4;" in text


def test_a_changed_recipe_makes_the_doc_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    current = recipes.DOC.read_text(encoding="utf-8")
    changed = dataclasses.replace(recipes.RECIPES[0], ships="something else")
    monkeypatch.setattr(recipes, "RECIPES", (changed, *recipes.RECIPES[1:]))
    assert recipes.render_doc(current) != current
    assert recipes.main(["--check"]) == 1
