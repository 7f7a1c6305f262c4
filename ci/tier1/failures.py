"""Re-export of :mod:`ci.junit`, the one JUnit reader (kept for existing imports)."""

from ci.junit import FailedTest, JunitReport, read, strip_ansi
from ci.junit import TestCounts as Counts

__all__ = ["Counts", "FailedTest", "JunitReport", "read", "strip_ansi"]
