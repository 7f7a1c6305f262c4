"""Tier 3 for inventory: a PostgreSQL-backed HTTP stock service, nothing about how to start it.

Run it:  python services/inventory/ci/tier3.py --help
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the checkout, for `ci`

from ci import Service, Suite, postgres, var

service = Service(
    backends=[
        postgres("postgres", database="inventory_test", user="inventory", password="inventory"),
    ],
    migrations="migrations",
    suite=Suite("tests/integration", args=["--tb=short"], cov="inventory", timeout=120),
    env={"INVENTORY_LOG_LEVEL": "warning"},
    requires=[
        var("INVENTORY_MAX_RESERVATION", default="100", pattern=r"[1-9][0-9]{0,5}",
            description="Largest quantity one reservation may hold"),
    ],
)

if __name__ == "__main__":
    service.main()
