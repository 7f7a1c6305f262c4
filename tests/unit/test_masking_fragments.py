"""pytest shortens long values in its reports; the masker must hide the halves too.

The shortened forms are made by pytest's own ``saferepr``, at every size it
might choose, so the test follows pytest rather than a copy of its format.
"""

from __future__ import annotations

import json

import pytest
from _pytest._io.saferepr import saferepr

from ci.masking import MIN_FRAGMENT, Masker

SECRET = "sk-CANARY-1c2f3e4d5a6b7c8d9e0f920b9d4666c34"


def leaked(text: str, secret: str, shortest: int = MIN_FRAGMENT + 2) -> list[str]:
    """Substrings of ``secret`` of ``shortest`` characters or more found in ``text``."""
    return [secret[i:i + shortest] for i in range(len(secret) - shortest + 1)
            if secret[i:i + shortest] in text]


@pytest.fixture
def masker() -> Masker:
    m = Masker()
    m.register(SECRET, announce=False)
    return m


@pytest.mark.parametrize("maxsize", range(12, 60, 3))
def test_saferepr_of_the_secret_alone(masker: Masker, maxsize: int) -> None:
    shown = saferepr(SECRET, maxsize=maxsize)
    assert leaked(masker.redact(shown), SECRET) == [], shown


@pytest.mark.parametrize("maxsize", [30, 40, 60, 80])
@pytest.mark.parametrize("container", ["dict", "list", "prefixed"])
def test_saferepr_of_the_secret_inside_a_value(masker: Masker, maxsize: int,
                                               container: str) -> None:
    value: object = {
        "dict": {"api_key": SECRET, "model": "x" * 40},
        "list": ["a" * 10, SECRET, "b" * 30],
        "prefixed": "Bearer " + SECRET + " trailing words",
    }[container]
    shown = saferepr(value, maxsize=maxsize)
    assert leaked(masker.redact(shown), SECRET) == [], shown


def test_the_shortened_form_from_the_issue(masker: Masker) -> None:
    text = "AssertionError: assert 'sk-CANARY-1c...920b9d4666c34' == 'x'"
    out = masker.redact(text)
    assert "1c2f" not in out and "920b9d4666c34" not in out and "...***'" in out


def test_unrelated_ellipses_are_left_alone(masker: Masker) -> None:
    text = "collecting ... 3 items; waiting...done; path/to/file.py...ok"
    assert masker.redact(text) == text


def test_short_secrets_are_not_fragment_masked() -> None:
    m = Masker()
    m.register("abcdefgh", announce=False)  # shorter than any shortened repr
    assert m.redact("abcdef...xyz") == "abcdef...xyz"
    assert m.redact("x abcdefgh y") == "x *** y"


@pytest.mark.parametrize("secret", [
    'pa"ss-w0rd-with-quote', "pa\\ss-w0rd-backslash", "pässwörd-ünicode-x", "tab\tinside-secret",
])
def test_escaped_forms_are_masked(secret: str) -> None:
    # pytest prints reprs, run.json is JSON: both escape some characters.
    m = Masker()
    m.register(secret, announce=False)
    for shown in (repr(secret), json.dumps(secret), json.dumps({"error": f"got {secret}"})):
        assert leaked(m.redact(shown), secret, 8) == [], shown


@pytest.mark.parametrize("secret", ['a&b<c>"d-secret-value', "pa\\ss-w0rd-backslash"])
def test_xml_escaped_forms_are_masked(secret: str) -> None:
    # junit.xml carries failure messages in escaped attributes and text.
    import xml.etree.ElementTree as ET

    m = Masker()
    m.register(secret, announce=False)
    element = ET.Element("failure", message=f"assert {secret!r} == 1")
    element.text = f"E   AssertionError: {secret}"
    shown = ET.tostring(element, encoding="unicode")
    assert leaked(m.redact(shown), secret, 8) == [], shown
