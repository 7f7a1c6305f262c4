"""The worst recorded session code becomes nox's exit code (ci.tier2.outcome)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ci.exit_codes import worst
from ci.tier2 import outcome

ROOT = Path(__file__).resolve().parents[2]


def test_worst_orders_codes_by_their_documented_meaning() -> None:
    assert worst([]) == 0
    assert worst([0, 1]) == 1
    assert worst([1, 2]) == 2
    assert worst([2, 3, 1]) == 3
    assert worst([3, 130]) == 130
    assert worst([1, -9]) == 3  # a crash is infrastructure, never "tests failed"


@pytest.mark.parametrize(("recorded", "nox_code", "expected"), [
    ([2], 1, 2), ([1, 3], 1, 3), ([], 1, 1), ([], 0, 0),
])
def test_exit_hook_replaces_nox_code_by_the_worst_recorded(
        recorded: list[int], nox_code: int, expected: int) -> None:
    script = (
        "import sys\n"
        "from ci.tier2 import outcome\n"
        "outcome.install_exit_hook()\n"
        f"for c in {recorded!r}: outcome.record(c)\n"
        "print('summary printed', flush=True)\n"
        f"sys.exit({nox_code})\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    assert done.returncode == expected, done.stderr
    assert done.stdout == "summary printed\n"


class FakeSession:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, message: str) -> None:
        self.errors.append(message)
        raise RuntimeError(message)


def test_fail_records_and_errors_without_exiting(capsys: pytest.CaptureFixture[str]) -> None:
    before = list(outcome._recorded)
    session = FakeSession()
    outcome.fail(session, 0, "x")
    assert session.errors == []
    with pytest.raises(RuntimeError, match="x exited 3"):
        outcome.fail(session, 3, "x")
    assert outcome._recorded[len(before):] == [3]
    assert "x: exit 3 (infrastructure error" in capsys.readouterr().out
    del outcome._recorded[len(before):]


def test_an_interrupted_run_stops_nox_instead_of_going_on() -> None:
    before = len(outcome._recorded)
    session = FakeSession()
    with pytest.raises(KeyboardInterrupt):
        outcome.fail(session, 130, "x")
    assert session.errors == [] and outcome._recorded[before:] == [130]
    del outcome._recorded[before:]
