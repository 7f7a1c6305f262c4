"""One process-wide masker for secret values.

Every secret is registered here before its first use; everything the framework
prints, logs or writes as an artifact goes through :func:`redact`. On GitHub
Actions each line of a value is also announced with ``::add-mask::`` (GitHub
masks line by line, actions/runner#161), written straight to the stdout file
descriptor so the value never passes through a logger or an echoing shell.
"""

from __future__ import annotations

import html
import json
import os
import re
import sys
import threading
from collections.abc import Iterable

MASK = "***"
ENV_SECRET_NAMES = "TIERS_SECRET_NAMES"
"""Names (never values) of the variables a parent tier marked secret."""
# Values shorter than this are not masked: replacing "1" or "true" everywhere
# would make logs unreadable and protects nothing.
MIN_SECRET_LENGTH = 4
MIN_FRAGMENT = 6
"""Shortest head or tail of a secret masked next to an ellipsis."""
MIN_FRAGMENT_SOURCE = 12
"""Secrets shorter than this are never shortened by pytest's reprs."""
_ELLIPSIS = re.compile(
    r"(?P<left>[^\s'\"]{0,120})(?P<dots>\.\.\.|\u2026)(?P<right>[^\s'\"]{0,120})")


class Masker:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def register(self, value: str | None, *, announce: bool | None = None) -> None:
        """Mask ``value`` (and each of its lines) from now on."""
        if not value:
            return
        lines = {line.strip() for line in value.splitlines()}
        lines = {line for line in lines if len(line) >= MIN_SECRET_LENGTH}
        parts = lines | ({value} if len(value) >= MIN_SECRET_LENGTH else set())
        parts |= {form for part in parts for form in _escaped_forms(part)}
        new = parts - self._values
        if not new:
            return
        with self._lock:
            self._values |= new
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
        if announce if announce is not None else os.environ.get("GITHUB_ACTIONS") == "true":
            # Only single lines: a multi-line ::add-mask:: would end at the first
            # newline and print the rest as ordinary log lines.
            _announce_to_github(sorted(lines & new))

    def register_many(self, values: Iterable[str | None]) -> None:
        for value in values:
            self.register(value)

    @property
    def active(self) -> bool:
        return self._pattern is not None

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        text = pattern.sub(MASK, text)
        if "..." in text or "\u2026" in text:
            text = _ELLIPSIS.sub(self._mask_fragments, text)
        return text

    def _mask_fragments(self, match: re.Match[str]) -> str:
        """Mask a secret's head before, or its tail after, an ellipsis.

        pytest shortens long values in assertion messages (``'sk-CANARY-1c...
        920b9d4666c34'``): neither half equals the secret, yet together they
        give most of it away.
        """
        left, dots, right = match.group("left"), match.group("dots"), match.group("right")
        for value in self._values:
            if len(value) < MIN_FRAGMENT_SOURCE:
                continue
            for k in range(min(len(value) - 1, len(left)), MIN_FRAGMENT - 1, -1):
                if left.endswith(value[:k]):
                    left = left[: len(left) - k] + MASK
                    break
            for k in range(min(len(value) - 1, len(right)), MIN_FRAGMENT - 1, -1):
                if right.startswith(value[-k:]):
                    right = MASK + right[k:]
                    break
        return left + dots + right

    def redact_bytes(self, data: bytes) -> bytes:
        if self._pattern is None:
            return data
        return self.redact(data.decode("utf-8", "replace")).encode("utf-8")

    def contains_secret(self, text: str) -> bool:
        pattern = self._pattern
        return bool(pattern and pattern.search(text))

    def clear(self) -> None:
        """Forget every value (tests only)."""
        with self._lock:
            self._values.clear()
            self._pattern = None


def _escaped_forms(value: str) -> set[str]:
    """How ``value`` reads once quoted: pytest prints reprs, run.json is JSON, junit.xml XML.

    A secret holding a quote, a backslash, a tab or a non-ASCII letter is written
    escaped there, and the plain value would no longer match.
    """
    forms = {repr(value)[1:-1], json.dumps(value)[1:-1],
             json.dumps(value, ensure_ascii=False)[1:-1], html.escape(value, quote=False),
             xml_attr(value)}
    forms |= {repr(form)[1:-1] for form in set(forms)}
    return {form for form in forms if form != value and len(form) >= MIN_SECRET_LENGTH}


def xml_attr(value: str) -> str:
    """``value`` as ElementTree writes it inside an attribute."""
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#09;"))


def _announce_to_github(lines: list[str]) -> None:
    sys.stdout.flush()
    payload = "".join(f"::add-mask::{_escape(line)}\n" for line in lines)
    os.write(sys.stdout.fileno(), payload.encode("utf-8"))


def _escape(data: str) -> str:
    """Workflow-command data escaping: the runner unescapes it before masking."""
    return data.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


masker = Masker()
register = masker.register
redact = masker.redact
