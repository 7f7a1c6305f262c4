"""Secrets are masked before use; ::add-mask:: covers each line without echoing the value."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ci.console import Console
from ci.masking import masker
from ci.tier2.secrets import looks_secret, register_secret

MULTI = "-----BEGIN KEY-----\nline-two-secret\n  line-three-secret\n-----END KEY-----"


@pytest.fixture(autouse=True)
def clean_masker() -> Iterator[None]:
    masker.clear()
    yield
    masker.clear()


def test_multiline_value_masked_whole_and_line_by_line() -> None:
    register_secret(MULTI)
    assert masker.redact(f"x {MULTI} y") == "x *** y"
    assert masker.redact("got line-two-secret") == "got ***"
    assert masker.redact("line-three-secret!") == "***!"


def test_add_mask_each_line_first_and_never_a_bare_line(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    register_secret(MULTI)
    out = capfd.readouterr().out
    lines = out.splitlines()
    assert lines, "nothing announced"
    assert all(line.startswith("::add-mask::") for line in lines), lines
    announced = {line.removeprefix("::add-mask::") for line in lines}
    assert {"line-two-secret", "line-three-secret", "-----BEGIN KEY-----"} <= announced


def test_no_announcement_off_github(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    register_secret("a-single-line-secret")
    assert capfd.readouterr().out == ""
    assert masker.redact("a-single-line-secret") == "***"


def test_console_output_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    register_secret("s3cr3t-value")
    Console(prefix="t").info("value is s3cr3t-value")
    assert capsys.readouterr().out == "[t] value is ***\n"


def test_masker_register_multiline_never_prints_a_bare_line(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    masker.register("first-line\nsecond-line")
    lines = capfd.readouterr().out.splitlines()
    assert all(line.startswith("::add-mask::") for line in lines), lines


@pytest.mark.parametrize(("name", "secret"), [
    ("OPENAI_API_KEY", True), ("DB_PASSWORD", True), ("GITHUB_TOKEN", True),
    ("AWS_SECRET_ACCESS_KEY", True), ("SIGNING_KEY", True), ("DISABLE_VAULT_AUTH", False),
    ("TESTING", False), ("POSTGRES_HOST", False), ("KEYCLOAK_URL", False),
])
def test_secret_names_by_pattern(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret
