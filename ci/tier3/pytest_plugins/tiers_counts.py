"""pytest plugin: write pytest's own closing counts as JSON (``-p tiers_counts``).

JUnit XML cannot say how many tests were deselected, xfailed or xpassed, and
records reruns only as look-alike passes; pytest's terminal summary ("2 passed,
1 deselected, 2 rerun") is the figure a person trusts. This plugin writes
exactly those numbers, from ``terminalreporter.stats``, to the file named by
``TIERS_PYTEST_COUNTS``, so run.json, the console and the GitHub summary can
carry what pytest itself counted. Without the variable it does nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ENV_VAR = "TIERS_PYTEST_COUNTS"
KEYS = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "rerun", "deselected")


def counts(stats: dict[str, list[Any]]) -> dict[str, int]:
    """pytest's categories, counting each test once as its terminal summary does.

    Set-up/tear-down reports land in ``stats`` too; only reports that count
    toward the summary (``count_towards_summary``, default True) are counted.
    """
    out: dict[str, int] = {}
    for key in KEYS:
        reports = stats.get(key, [])
        out[key] = sum(1 for r in reports if getattr(r, "count_towards_summary", True))
    return out


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    target = os.environ.get(ENV_VAR)
    if not target:
        return
    data = {**counts(terminalreporter.stats), "exitstatus": int(exitstatus)}
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
