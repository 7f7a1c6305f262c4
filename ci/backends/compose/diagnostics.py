"""What a failed run saves before teardown destroys the evidence.

``ps`` output, every container's log and its ``inspect`` state. Inspect output
carries the container's environment, where passwords live: values of variables
named like secrets (PASSWORD, SECRET, TOKEN, KEY) are replaced, and everything
written passes through the global masker as well.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ci.masking import MASK, redact

SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)


def redact_env(env: Sequence[str]) -> list[str]:
    """``NAME=value`` entries with the value masked when the name looks secret."""
    out = []
    for entry in env:
        name, sep, value = entry.partition("=")
        if sep and SECRET_NAME.search(name) and value:
            out.append(f"{name}={MASK}")
        else:
            out.append(entry)
    return out


def redact_inspect(attrs: dict[str, Any]) -> dict[str, Any]:
    """A copy of a container's inspect document safe to keep as an artifact."""
    doc: dict[str, Any] = json.loads(json.dumps(attrs))
    config = doc.get("Config") or {}
    if isinstance(config.get("Env"), list):
        config["Env"] = redact_env(config["Env"])
    return doc


def inspect_text(attrs_list: Sequence[dict[str, Any]]) -> str:
    docs = [redact_inspect(a) for a in attrs_list]
    return redact(json.dumps(docs, indent=2, sort_keys=True, default=str)) + "\n"


def save(out_dir: Path, containers: Sequence[Any], ps_argv: Sequence[str]) -> list[Path]:
    """Write ``compose-ps.txt`` and ``compose-inspect.json`` under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        # Without a terminal compose sizes its table to COLUMNS (80 by default)
        # and wraps container names; evidence must be readable whole.
        proc = subprocess.run(list(ps_argv), capture_output=True, text=True, timeout=60,
                              check=False, env={**os.environ, "COLUMNS": "250"})
        ps_text = proc.stdout + proc.stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        ps_text = f"could not run compose ps: {exc}\n"
    ps_path = out_dir / "compose-ps.txt"
    ps_path.write_text(redact(ps_text), encoding="utf-8")
    written.append(ps_path)
    attrs = []
    for container in containers:
        with contextlib.suppress(Exception):
            container.reload()
        attrs.append(container.attrs)
    inspect_path = out_dir / "compose-inspect.json"
    inspect_path.write_text(inspect_text(attrs), encoding="utf-8")
    written.append(inspect_path)
    return written
