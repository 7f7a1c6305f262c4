"""Re-export of :mod:`ci.junit`, the one JUnit reader (kept for existing imports)."""

from ci.junit import Counts, FailedTest, JunitReport, read, strip_ansi

__all__ = ["Counts", "FailedTest", "JunitReport", "read", "strip_ansi"]
