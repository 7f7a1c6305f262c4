"""docs/configuration.md is generated from the code and every TIERS_* name is declared."""

from __future__ import annotations

import re
from pathlib import Path

from ci.exit_codes import ExitCode
from ci.tier2 import docs
from ci.tier2.options import by_name

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_doc_is_in_sync() -> None:
    text = docs.DOC.read_text(encoding="utf-8")
    assert docs.render(text) == text, "run `python -m ci.tier2.docs`"
    for code in ExitCode:
        assert f"| {int(code)} | `{code.name}` |" in text


def test_every_tiers_variable_in_the_code_is_declared() -> None:
    used: set[str] = set()
    for path in (ROOT / "ci").rglob("*.py"):
        used |= set(re.findall(r"[\"'](TIERS_[A-Z0-9_]+)[\"']", path.read_text("utf-8")))
    undeclared = sorted(used - set(by_name()))
    assert not undeclared, f"add to ci/tier2/options.py OPTIONS: {undeclared}"
