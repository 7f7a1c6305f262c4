"""Inspect output kept as an artifact never carries a secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ci.backends.compose import diagnostics
from ci.masking import masker


class FakeContainer:
    def __init__(self, attrs: dict[str, Any]) -> None:
        self.attrs = attrs

    def reload(self) -> None:
        pass


def test_secret_looking_env_values_are_redacted(tmp_path: Path) -> None:
    attrs = {"Name": "/pg", "Config": {"Env": [
        "POSTGRES_PASSWORD=hunter2hunter2", "OPENAI_API_KEY=sk-abc123456", "GH_TOKEN=ghp_zz",
        "AWS_SECRET_ACCESS_KEY=wJalr", "POSTGRES_USER=test", "PATH=/usr/bin", "EMPTY_TOKEN=",
    ]}}
    written = diagnostics.save(tmp_path, [FakeContainer(attrs)], ["true"])
    assert [p.name for p in written] == ["compose-ps.txt", "compose-inspect.json"]
    text = (tmp_path / "compose-inspect.json").read_text()
    for value in ("hunter2hunter2", "sk-abc123456", "ghp_zz", "wJalr"):
        assert value not in text
    env = json.loads(text)[0]["Config"]["Env"]
    assert "POSTGRES_PASSWORD=***" in env
    assert "POSTGRES_USER=test" in env and "PATH=/usr/bin" in env
    assert "EMPTY_TOKEN=" in env
    assert attrs["Config"]["Env"][0] == "POSTGRES_PASSWORD=hunter2hunter2"  # input untouched


def test_registered_secrets_are_masked_anywhere(tmp_path: Path) -> None:
    masker.register("s3cr3t-value")
    try:
        attrs = {"Config": {"Env": []}, "Args": ["--pass", "s3cr3t-value"]}
        text = diagnostics.inspect_text([attrs])
        assert "s3cr3t-value" not in text and "***" in text
    finally:
        masker.clear()


def test_ps_output_is_saved(tmp_path: Path) -> None:
    diagnostics.save(tmp_path, [], ["echo", "NAME STATE"])
    assert (tmp_path / "compose-ps.txt").read_text().strip() == "NAME STATE"
