"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.moto_ssm import MotoSSM


@pytest.fixture(scope="session")
def moto_ssm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoSSM]:
    """One moto server for the whole session; tests use their own parameter names."""
    server = MotoSSM(tmp_path_factory.mktemp("moto"))
    try:
        yield server
    finally:
        server.stop()
