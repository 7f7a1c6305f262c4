"""The one reader of pytest's JUnit XML: counts and located failures, for every tier.

run.json (Tier 3), the console and the GitHub summary (Tier 2) must agree, so
they read the file the same way, here.

**Counts.** pytest-rerunfailures' reruns reach pytest's junit.xml as extra
``<testcase>`` elements with the same id and no outcome child, before the
final attempt; read naively each looks like a pass, so a flake vanishes from
the evidence. A childless element followed by another with the same id is
therefore a *rerun*, never a pass. Deselected, xfailed and xpassed tests are
not in JUnit XML at all (pytest's own counts come from
:mod:`ci.pytest_counts`).

**Failures.** GitHub can pin an annotation to a line of the diff, but only if
it is given a path relative to the repository root and a line number.
pytest's default JUnit flavour (xunit2) records neither; it records a dotted
``classname`` (``tests.integration.test_orders.TestPay``) relative to pytest's
rootdir, and the failure text, whose traceback names ``path.py:LINE``. So: use
the ``file``/``line`` attributes when present (xunit1), otherwise turn the
classname back into a file that exists; take the line from the traceback (the
assertion that failed), else the ``line`` attribute, else the test's ``def``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Colour codes pytest may have written into the XML: raw, or as the "#x1B"
# placeholder pytest uses for characters XML 1.0 cannot hold.
_ANSI = re.compile(r"(?:\x1b|#x1B)\[[0-9;]*[A-Za-z]")
MAX_MESSAGE = 500
"""Characters of a failure message kept in run.json."""
MAX_DETAILS = 4000
"""Characters of a failure's traceback kept in run.json."""


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


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

    def to_json(self) -> dict[str, Any]:
        return {"test": self.test_id, "message": self.message[:MAX_MESSAGE],
                "details": self.details[:MAX_DETAILS], "kind": self.kind,
                "file": self.file, "line": self.line}


@dataclass(frozen=True)
class JunitReport:
    counts: TestCounts
    """What JUnit can count (no deselected, xfailed or xpassed); its ``failures`` stay empty."""
    failures: tuple[FailedTest, ...]


def _outcome(case: ET.Element) -> ET.Element | None:
    return next((c for c in case if c.tag in ("failure", "error", "skipped")), None)


def read(junit_xml: Path, repo_root: Path | None = None,
         bases: Sequence[Path] = ()) -> JunitReport:
    """Parse ``junit_xml``; ``bases`` are folders a classname may be relative to.

    Without ``repo_root`` failures are not located (no file or line).
    """
    root = ET.parse(junit_xml).getroot()
    cases = list(root.iter("testcase"))
    search = _unique([*bases, repo_root]) if repo_root is not None else []
    last_index: dict[tuple[str, str, str], int] = {}
    for i, case in enumerate(cases):
        last_index[_key(case)] = i
    total = passed = failed = errors = skipped = rerun = 0
    failures: list[FailedTest] = []
    for i, case in enumerate(cases):
        outcome = _outcome(case)
        if outcome is None and not case.get("name"):
            continue  # pytest's placeholder for a test cut short by an interrupt: not a pass
        if outcome is None and last_index[_key(case)] != i:
            rerun += 1  # an earlier attempt of a test pytest-rerunfailures ran again
            continue
        total += 1
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
    return JunitReport(TestCounts(total, passed, failed, errors, skipped, rerun),
                       tuple(failures))


def _key(case: ET.Element) -> tuple[str, str, str]:
    return (case.get("classname") or "", case.get("name") or "", case.get("file") or "")


def _failed(case: ET.Element, outcome: ET.Element, repo_root: Path | None,
            search: list[Path]) -> FailedTest:
    classname = case.get("classname") or ""
    name = case.get("name") or "?"
    details = strip_ansi(outcome.text or "").strip()
    message = (strip_ansi(outcome.get("message") or "").strip() or _first_line(details)
               or outcome.tag)
    if repo_root is None:  # not located: the xunit1 attributes as they are
        return FailedTest(".".join(filter(None, [classname, name])), message, details,
                          outcome.tag, case.get("file"), _attr_line(case.get("line")))
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


@dataclass
class TestCounts:
    """What run.json's ``tests`` holds: JUnit's counts, pytest's own counts, failures."""

    __test__ = False  # not a pytest test class

    total: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    rerun: int = 0
    """Attempts that failed and were run again (not tests: ``total`` excludes them)."""
    deselected: int = 0
    xfailed: int = 0
    xpassed: int = 0
    failures: list[FailedTest] = field(default_factory=list)

    @classmethod
    def from_report(cls, report: JunitReport) -> TestCounts:
        return dataclasses.replace(report.counts, failures=list(report.failures))

    def with_pytest_counts(self, counts_file: Path) -> TestCounts:
        """Take pytest's own counts (written by the ``tiers_counts`` plugin) where it wrote them.

        pytest's figures win: they are what its closing line printed, and
        JUnit cannot hold deselected, xfailed or xpassed. ``total`` becomes
        every test pytest ran to an outcome. Without the file (pytest crashed
        before its summary) the JUnit reading stands.
        """
        try:
            data = json.loads(counts_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return self
        if not isinstance(data, dict):
            return self

        def n(key: str) -> int:
            value = data.get(key, 0)
            return value if isinstance(value, int) else 0

        passed, failed, errors, skipped = n("passed"), n("failed"), n("error"), n("skipped")
        xfailed, xpassed = n("xfailed"), n("xpassed")
        return TestCounts(
            total=passed + failed + errors + skipped + xfailed + xpassed, passed=passed,
            failed=failed, errors=errors, skipped=skipped, rerun=n("rerun"),
            deselected=n("deselected"), xfailed=xfailed, xpassed=xpassed,
            failures=list(self.failures))

    def summary(self) -> str:
        parts = [f"{self.passed} passed"]
        for label, n in (("failed", self.failed), ("errors", self.errors),
                         ("skipped", self.skipped), ("rerun", self.rerun),
                         ("deselected", self.deselected), ("xfailed", self.xfailed),
                         ("xpassed", self.xpassed)):
            if n:
                parts.append(f"{n} {label}")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["failures"] = [f.to_json() for f in self.failures]
        return data


def read_junit(path: Path, repo_root: Path | None = None,
               bases: Sequence[Path] = ()) -> TestCounts | None:
    """Tier 3's reading: None when pytest wrote no (or an unreadable) file."""
    if not path.exists():
        return None
    try:
        return TestCounts.from_report(read(path, repo_root, bases))
    except ET.ParseError:
        return None
