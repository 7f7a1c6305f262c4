"""Sessions: `nox -l`. One `integration-<service>` per services/<name>/ci/tier3.py.

No PEP 723 block on purpose: with one, a nox installed by `pip install nox`
re-executes itself in a script venv on every call (seconds before any
session). Tier 2 needs nothing beyond nox and the standard library in this
process; boto3 is imported only when Parameter Store is asked (see
docs/configuration.md).
"""

import sys
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

import ci.tier2  # noqa: E402

ci.tier2.register(ROOT)
