"""pytest plugin: hold pytest after start-up until Tier 3 says the backends are ready.

Loaded with ``-p tiers_gate`` from a folder of its own on ``PYTHONPATH`` (a
module name no project uses, so a project's own ``ci`` package cannot shadow
it). The interpreter, pytest and its plugins load while the backends start;
then this hook, which runs before any ``conftest.py`` is imported, reads one
JSON line from a pipe of its own (stdin is already captured by pytest by
then): the suite's final environment. Collection starts only
after that, so module-level ``os.environ[...]`` reads see the real endpoints.
An empty line (Tier 3 gave up) exits at once.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

ENV_GATE = "TIERS_GATE_FD"


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: Any, parser: Any, args: Any) -> None:
    fd = os.environ.get(ENV_GATE)
    if not fd:
        return
    with os.fdopen(int(fd), "r", encoding="utf-8") as gate:
        line = gate.readline()
    if not line.strip():
        os._exit(3)
    env = json.loads(line)
    os.environ.clear()
    os.environ.update(env)
