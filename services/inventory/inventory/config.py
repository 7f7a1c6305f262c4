"""Settings from the environment, read once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    database_url: str
    max_reservation: int = 100
    log_level: str = "info"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        url = env.get("DATABASE_URL", "")
        if not url:
            raise SystemExit("inventory: DATABASE_URL is not set")
        try:
            limit = int(env.get("INVENTORY_MAX_RESERVATION", "100"))
        except ValueError:
            raise SystemExit("inventory: INVENTORY_MAX_RESERVATION must be an integer") from None
        if limit < 1:
            raise SystemExit("inventory: INVENTORY_MAX_RESERVATION must be at least 1")
        return cls(database_url=url, max_reservation=limit,
                   log_level=env.get("INVENTORY_LOG_LEVEL", "info"))
