"""Re-export of :mod:`ci.junit`, the one JUnit reader (kept until imports move there)."""

from ci.junit import FailedTest, TestCounts, read_junit

Failure = FailedTest
"""The old name of a failing test's record."""

__all__ = ["FailedTest", "Failure", "TestCounts", "read_junit"]
