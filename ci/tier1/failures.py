"""Failing tests read from pytest's JUnit XML, each located at a file and line.

GitHub can pin an annotation to a line of the diff, but only if it is given a
path relative to the repository root and a line number. pytest's default
JUnit flavour (xunit2) records neither; it records a dotted ``classname``
(``tests.integration.test_orders.TestPay``) relative to pytest's rootdir, and
the failure text, whose traceback names ``path.py:LINE``. So: use the
``file``/``line`` attributes when present (xunit1), otherwise turn the
classname back into a file that exists; take the line from the traceback (the
assertion that failed), else the ``line`` attribute, else the test's ``def``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Colour codes pytest may have written into the XML: raw, or as the "#x1B"
# placeholder pytest uses for characters XML 1.0 cannot hold.
_ANSI = re.compile(r"(?:\x1b|#x1B)\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


@dataclass(frozen=True)
class Counts:
    total: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class FailedTest:
    test_id: str
    """``path.py::Class::name`` when the file is known, else ``classname.name``."""
    message: str
    details: str
    kind: str
    """``failure`` (an assertion) or ``error`` (set-up/tear-down or a crash)."""
    file: str | None = None
    """Relative to the repository root, with ``/`` separators."""
    line: int | None = None


@dataclass(frozen=True)
class JunitReport:
    counts: Counts
    failures: tuple[FailedTest, ...]


def read(junit_xml: Path, repo_root: Path, bases: Sequence[Path] = ()) -> JunitReport:
    """Parse ``junit_xml``; ``bases`` are folders a classname may be relative to."""
    root = ET.parse(junit_xml).getroot()
    search = _unique([*bases, repo_root])
    total = passed = failed = errors = skipped = 0
    failures: list[FailedTest] = []
    for case in root.iter("testcase"):
        total += 1
        outcome = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
        if outcome is None:
            passed += 1
            continue
        if outcome.tag == "skipped":
            skipped += 1
            continue
        if outcome.tag == "failure":
            failed += 1
        else:
            errors += 1
        failures.append(_failed(case, outcome, repo_root, search))
    return JunitReport(Counts(total, passed, failed, errors, skipped), tuple(failures))


def _failed(case: ET.Element, outcome: ET.Element, repo_root: Path,
            search: list[Path]) -> FailedTest:
    classname = case.get("classname") or ""
    name = case.get("name") or "?"
    details = strip_ansi(outcome.text or "").strip()
    message = (strip_ansi(outcome.get("message") or "").strip() or _first_line(details)
               or outcome.tag)
    path, class_parts = _locate(case.get("file"), classname, repo_root, search)
    if path is None:
        test_id = ".".join(filter(None, [classname, name]))
        return FailedTest(test_id, message, details, outcome.tag)
    rel = path.relative_to(repo_root).as_posix()
    # The failing line beats the test's first line: the traceback's, then the
    # ``line`` attribute (xunit1: where the test is defined), then its ``def``.
    attr = _attr_line(case.get("line")) if case.get("file") else None
    line = _traceback_line(details, path) or attr or _def_line(path, name) or 1
    test_id = "::".join([rel, *class_parts, name])
    return FailedTest(test_id, message, details, outcome.tag, rel, line)


def _locate(file_attr: str | None, classname: str, repo_root: Path,
            search: list[Path]) -> tuple[Path | None, list[str]]:
    """The test file under the repository root, and the classes left of the test name."""
    if file_attr:
        for base in search:
            candidate = (base / file_attr).resolve()
            if candidate.is_file() and candidate.is_relative_to(repo_root):
                parts = classname.split(".")
                stem = candidate.stem
                rest = parts[parts.index(stem) + 1:] if stem in parts else []
                return candidate, rest
    parts = classname.split(".") if classname else []
    # Longest prefix that names a file wins: a.b.test_x.TestY -> a/b/test_x.py + [TestY].
    for cut in range(len(parts), 0, -1):
        relative = Path(*parts[:cut]).with_suffix(".py")
        for base in search:
            candidate = (base / relative).resolve()
            if candidate.is_file() and candidate.is_relative_to(repo_root):
                return candidate, parts[cut:]
    return None, []


def _traceback_line(details: str, path: Path) -> int | None:
    """The last ``<...>/<file>.py:N:`` in the traceback that is this test file."""
    found: int | None = None
    for match in re.finditer(r"^(?P<file>\S+?\.py):(?P<line>\d+):", details, re.MULTILINE):
        if Path(match["file"]).name == path.name and (
            path.as_posix().endswith(Path(match["file"]).as_posix().lstrip("./"))
        ):
            found = int(match["line"])
    return found


def _def_line(path: Path, name: str) -> int | None:
    bare = re.escape(name.split("[", 1)[0])
    pattern = re.compile(rf"^\s*(async\s+)?def\s+{bare}\s*\(")
    try:
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.match(text):
                return number
    except (OSError, UnicodeDecodeError):
        return None
    return None


def _attr_line(value: str | None) -> int | None:
    # xunit1's ``line`` is 0-based.
    return int(value) + 1 if value and value.isdigit() else None


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _unique(paths: Sequence[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        r = p.resolve()
        if r not in out:
            out.append(r)
    return out
