"""The corpus's judge must be able to fail: it sees a leftover process, temp dir and message."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ci.exit_codes import ExitCode
from tests.badinput.cases import CASES
from tests.badinput.harness import (
    Case,
    Result,
    cleanup,
    declare,
    leftovers,
    make_checkout,
    processes,
    service_name,
)

CASE = Case("harness-self-test", ExitCode.OK, ())


def test_corpus_is_large_and_ids_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) >= 40
    assert len(set(ids)) == len(ids)
    assert len({service_name(i) for i in ids}) == len(ids)


def test_a_process_left_in_the_checkout_is_found_and_cleaned(tmp_path: Path) -> None:
    co = make_checkout(tmp_path, CASE)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                             cwd=co.service_dir)
    result = Result(0, "", 0.0)
    try:
        assert any(f"pid {child.pid}:" in line for line in processes(co, []))
        assert leftovers(co, result, docker=False, grace=0.2)
    finally:
        cleanup(co, result, docker=False)
        child.wait(timeout=10)
    assert not processes(co, [])


def test_a_temp_dir_of_the_run_is_found(tmp_path: Path) -> None:
    co = make_checkout(tmp_path, CASE)
    made = tempfile.mkdtemp(prefix=f"tiers-{co.service}-0badf00d-db-")
    result = Result(0, "run 0badf00d: stages up", 0.0)
    try:
        assert made in leftovers(co, result, docker=False, grace=0.2)
    finally:
        os.rmdir(made)


def test_message_starts_at_the_first_error_line() -> None:
    out = "[x] backend: local\n[x] error: no kept run 'ab'\n  hint: start one with --keep\n"
    assert Result(2, out, 0.0).message().splitlines() == [
        "[x] error: no kept run 'ab'", "  hint: start one with --keep"]
    assert Result(0, "[x] passed\n", 0.0).message() == ""


def test_declare_overrides_and_drops_fields() -> None:
    text = declare(backends='[postgres("db")]', migrations="")
    assert 'backends=[postgres("db")],' in text and "migrations=" not in text
    compile(text, "tier3.py", "exec")
