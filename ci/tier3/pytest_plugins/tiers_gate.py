"""pytest plugin: hold pytest after start-up until Tier 3 says the backends are ready.

Loaded with ``-p tiers_gate`` from a folder of its own on ``PYTHONPATH`` (a
module name no project uses, so a project's own ``ci`` package cannot shadow
it). The interpreter, pytest and its plugins load while the backends start;
then this hook, which runs before any ``conftest.py`` is imported, reads one
JSON line from a pipe of its own (stdin is already captured by pytest by
then): the suite's final environment. Collection starts only
after that, so module-level ``os.environ[...]`` reads see the real endpoints.
An empty line (Tier 3 gave up) exits at once.

Before it blocks, the plugin imports the modules named in ``TIERS_PRELOAD``
(by default the backends' client libraries), one at a time and only while
the gate stays shut: their import time is spent while the backends start,
and never delays a suite whose backends are ready first. pytest's warning
filters already apply here (its warnings plugin wraps this hook): with
``filterwarnings = error`` a warning fails the preload, whose half-imported
modules are then dropped so that collection imports them afresh and reports
the error where it would have without preloading.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import sys
from typing import Any

import pytest

ENV_GATE = "TIERS_GATE_FD"
ENV_PRELOAD = "TIERS_PRELOAD"


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: Any, parser: Any, args: Any) -> None:
    fd = os.environ.get(ENV_GATE)
    if not fd:
        return
    _preload(os.environ.pop(ENV_PRELOAD, ""), int(fd))
    with os.fdopen(int(fd), "r", encoding="utf-8") as gate:
        line = gate.readline()
    if not line.strip():
        os._exit(3)
    env = json.loads(line)
    os.environ.clear()
    os.environ.update(env)


def _preload(names: str, gate: int) -> None:
    for name in filter(None, names.split(",")):
        if select.select([gate], [], [], 0)[0]:
            return  # Tier 3 has spoken: the suite itself imports the rest
        before = set(sys.modules)
        try:
            importlib.import_module(name)
        except Exception:  # collection imports it again and reports the error there
            for added in set(sys.modules) - before:
                sys.modules.pop(added, None)
