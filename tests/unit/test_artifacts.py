"""The run folder (unique under races, a clear error when unwritable) and masked artifacts."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci.errors import ConfigError
from ci.masking import masker
from ci.tier3.artifacts import redact_tree, run_dir


@pytest.fixture
def secret() -> Iterator[str]:
    value = "sk-ARTIFACT-" + uuid.uuid4().hex
    masker.clear()
    masker.register(value, announce=False)
    yield value
    masker.clear()


def test_many_runs_in_the_same_second_get_distinct_folders(tmp_path: Path) -> None:
    stamp = "20261123T103000Z"
    results: list[Path] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(24)

    def start() -> None:
        barrier.wait()
        try:
            results.append(run_dir(tmp_path, "svc", stamp, uuid.uuid4().hex[:8], tmp_path))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(results)) == 24 and all(p.is_dir() for p in results)
    assert (tmp_path / "integration" / "svc" / stamp) in results


def test_unwritable_base_is_a_config_error_naming_it(tmp_path: Path) -> None:
    base = tmp_path / "a-file"
    base.write_text("not a folder")
    with pytest.raises(ConfigError) as info:
        run_dir(tmp_path, "svc", "20261123T103000Z", "abcd1234", base)
    assert str(base) in info.value.message and "--artifacts" in info.value.message
    assert "nothing was started" in info.value.hint


def test_env_base_is_named_when_it_is_the_culprit(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "a-file"
    base.write_text("")
    monkeypatch.setenv("TIERS_ARTIFACTS_DIR", str(base))
    with pytest.raises(ConfigError, match="TIERS_ARTIFACTS_DIR"):
        run_dir(tmp_path, "svc", "20261123T103000Z", "abcd1234")


def test_redact_tree_masks_every_text_file_and_leaves_binaries(tmp_path: Path,
                                                               secret: str) -> None:
    (tmp_path / "logs").mkdir()
    junit = tmp_path / "junit.xml"
    junit.write_text(f'<failure message="assert \'{secret}\' == 1"/>')
    log = tmp_path / "logs" / "pytest.log"
    log.write_text(f"E  AssertionError: {secret[:14]}...{secret[-12:]}\n{secret}\n")
    binary = tmp_path / ".coverage"
    binary.write_bytes(b"SQLite format 3\0" + secret.encode())
    changed = redact_tree(tmp_path)
    assert sorted(changed) == sorted([junit, log])
    for path in (junit, log):
        assert secret not in path.read_text() and secret[-12:] not in path.read_text()
    assert binary.read_bytes().endswith(secret.encode())


def test_redact_tree_without_secrets_touches_nothing(tmp_path: Path) -> None:
    masker.clear()
    (tmp_path / "x.txt").write_text("plain")
    assert redact_tree(tmp_path) == []


def test_a_test_cut_short_by_an_interrupt_is_not_counted_as_passed(tmp_path: Path) -> None:
    # What pytest writes when SIGINT stops it in the middle of a test.
    from ci.tier3.junit import read_junit

    junit = tmp_path / "junit.xml"
    junit.write_text('<testsuites><testsuite tests="1"><testcase classname="t" name="test_a"/>'
                     '<testcase time="0.002" /></testsuite></testsuites>')
    counts = read_junit(junit)
    assert counts is not None and (counts.total, counts.passed) == (1, 1)
