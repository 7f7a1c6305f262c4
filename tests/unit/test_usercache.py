"""Answers remembered in the user cache folder, keyed by an executable's fingerprint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ci import usercache


def test_remembered_answers_are_recalled_and_others_kept(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert usercache.recall("store.json", "a") is None
    usercache.remember("store.json", "a", [1, 2])
    usercache.remember("store.json", "b", "2.0")
    assert usercache.recall("store.json", "a") == [1, 2]
    assert usercache.recall("store.json", "b") == "2.0"
    assert [p.name for p in (tmp_path / "tiers").iterdir()] == ["store.json"]  # no temp left


def test_an_unwritable_cache_only_means_asking_again(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file where the folder should be
    usercache.remember("store.json", "a", 1)
    assert usercache.recall("store.json", "a") is None


def test_a_link_keeps_its_own_name_in_the_fingerprint(tmp_path: Path) -> None:
    """A multi-call binary answers by the name it was run as (redis-server -> redis-check-rdb)."""
    target = tmp_path / "multi"
    target.write_text("#!/bin/sh\n")
    link = tmp_path / "server"
    os.symlink(target, link)
    size = target.stat().st_size
    assert usercache.fingerprint(link) == f"{link}:{size}:{target.stat().st_mtime_ns}"
    assert usercache.fingerprint(link) != usercache.fingerprint(target)
    assert usercache.fingerprint(tmp_path / "missing") is None
