"""Shared test configuration: the repository root on sys.path for `import ci`."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Every run a test starts must really run: a cached pass of an identical earlier
# run (ci/runcache.py) would make a test of the engine measure the cache. The
# cache's own tests set up their environment explicitly.
import os  # noqa: E402

os.environ.setdefault("TIERS_RESULT_CACHE", "off")
