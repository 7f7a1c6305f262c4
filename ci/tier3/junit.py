"""Read test counts and failures back from pytest's JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Failure:
    test: str
    message: str
    file: str | None = None
    line: int | None = None


@dataclass
class TestCounts:
    total: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.passed} passed"]
        for label, n in (("failed", self.failed), ("errors", self.errors),
                         ("skipped", self.skipped)):
            if n:
                parts.append(f"{n} {label}")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def read_junit(path: Path) -> TestCounts | None:
    if not path.exists():
        return None
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return None
    counts = TestCounts()
    for case in root.iter("testcase"):
        if not case.get("name"):
            continue  # pytest's placeholder for a test cut short by an interrupt: not a pass
        counts.total += 1
        name = ".".join(filter(None, [case.get("classname"), case.get("name")]))
        outcome = None
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = child
                break
        if outcome is None:
            counts.passed += 1
            continue
        if outcome.tag == "skipped":
            counts.skipped += 1
            continue
        if outcome.tag == "failure":
            counts.failed += 1
        else:
            counts.errors += 1
        line = case.get("line")
        counts.failures.append(Failure(
            test=name,
            message=(outcome.get("message") or (outcome.text or "").strip())[:500],
            file=case.get("file"),
            line=int(line) + 1 if line and line.isdigit() else None,
        ))
    return counts
