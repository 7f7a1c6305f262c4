# /// script
# dependencies = ["nox>=2025.2.9", "python-dotenv>=1.0", "boto3>=1.34"]
# ///
"""Sessions: `nox -l`. One `integration-<service>` per services/<name>/ci/tier3.py."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

import ci.tier2  # noqa: E402

ci.tier2.register(ROOT)
