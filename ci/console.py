"""What a run prints: one line per finished stage, notes, and errors.

Everything goes through the masker first. On GitHub Actions (``GITHUB_ACTIONS=
true``) stages are folded with ``::group::`` so the log reads as a list of
stages that open on click.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from ci.masking import redact


def on_github() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


class Console:
    def __init__(self, prefix: str = "tiers", stream: TextIO | None = None) -> None:
        self.prefix = prefix
        self._stream = stream

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stdout

    def _write(self, text: str) -> None:
        print(redact(text), file=self.stream, flush=True)

    def info(self, message: str) -> None:
        self._write(f"[{self.prefix}] {message}")

    def warn(self, message: str) -> None:
        self._write(f"[{self.prefix}] warning: {message}")

    def error(self, message: str) -> None:
        self._write(f"[{self.prefix}] {message}")

    def stage(self, name: str, status: str, seconds: float, detail: str = "") -> None:
        line = f"[{self.prefix}] {name:<8} {status:<7} {seconds:6.2f}s"
        if detail:
            line += f"  {detail}"
        self._write(line)

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        """Fold output on GitHub Actions; a no-op elsewhere."""
        if not on_github():
            yield
            return
        sys.stdout.flush()
        print(f"::group::{redact(title)}", file=sys.stdout, flush=True)
        try:
            yield
        finally:
            print("::endgroup::", file=sys.stdout, flush=True)
