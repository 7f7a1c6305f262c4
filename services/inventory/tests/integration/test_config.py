"""Start-up settings: a bad environment stops the service before it binds a port."""

from __future__ import annotations

import pytest
from inv_client import ServerProcess, server_env
from inventory.config import Settings


def test_settings_read_the_runner_environment() -> None:
    import os

    settings = Settings.from_env()
    assert settings.database_url == os.environ["DATABASE_URL"]
    assert settings.max_reservation == int(os.environ["INVENTORY_MAX_RESERVATION"])


@pytest.mark.parametrize("env, message", [
    ({"DATABASE_URL": ""}, "DATABASE_URL is not set"),
    ({"INVENTORY_MAX_RESERVATION": "many"}, "must be an integer"),
    ({"INVENTORY_MAX_RESERVATION": "0"}, "must be at least 1"),
])
def test_bad_settings_stop_the_process(env: dict[str, str], message: str) -> None:
    proc = ServerProcess(server_env(**env))
    with pytest.raises(RuntimeError, match="did not start") as info:
        proc.start(timeout=15)
    assert message in str(info.value)
    assert proc.proc is not None and proc.proc.returncode not in (None, 0)
