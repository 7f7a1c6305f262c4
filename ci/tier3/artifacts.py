"""Where a run's evidence goes, and the run.json that summarises it.

Everything in the folder passes through the masker before the run ends:
pytest writes junit.xml and coverage reports itself, so a secret printed by a
failing assertion would otherwise reach the uploaded artifacts unmasked.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from ci.errors import ConfigError
from ci.masking import masker, redact
from ci.tier3.context import RunContext

ENV_ARTIFACTS = "TIERS_ARTIFACTS_DIR"
ENV_RESULT_FILE = "TIERS_RESULT_FILE"
"""Set by Tier 2: Tier 3 writes its run folder's path there, for the GitHub report."""
MAX_REDACT_BYTES = 64 * 1024 * 1024


def run_dir(repo_root: Path, service: str, timestamp: str, run_id: str,
            base: Path | None = None) -> Path:
    """``artifacts/integration/<service>/<UTC timestamp>/``, unique per run.

    Created atomically (``mkdir`` without ``exist_ok``): two runs in the same
    second both get a folder, the second with its run id appended.
    """
    source = "--artifacts"
    if base is None:
        env_base = os.environ.get(ENV_ARTIFACTS)
        base, source = ((Path(env_base), ENV_ARTIFACTS) if env_base
                        else (repo_root / "artifacts", "the default"))
    parent = base / "integration" / service
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for name in (timestamp, f"{timestamp}-{run_id}"):
            try:
                (parent / name).mkdir()
                return parent / name
            except FileExistsError:
                continue
        raise FileExistsError(parent / f"{timestamp}-{run_id}")
    except OSError as exc:
        raise ConfigError(f"cannot create the artifacts folder under {base} ({source}): "
                          f"{exc.strerror or exc}",
                          hint=f"point {ENV_ARTIFACTS} or --artifacts at a writable folder; "
                          "nothing was started") from None


def redact_tree(folder: Path) -> list[Path]:
    """Mask secrets in every text file under ``folder``; returns the files rewritten."""
    changed: list[Path] = []
    if not masker.active or not folder.is_dir():
        return changed
    for path in folder.rglob("*"):
        try:
            if not path.is_file() or path.stat().st_size > MAX_REDACT_BYTES:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        if b"\0" in data[:4096]:
            continue  # binary (coverage's SQLite file): no text to leak from
        text = data.decode("utf-8", "replace")
        if masker.contains_secret(text):
            path.write_text(redact(text), encoding="utf-8")
            changed.append(path)
    return changed


def write_run_json(ctx: RunContext, exit_code: int) -> Path:
    data: dict[str, Any] = {
        "service": ctx.service.name,
        "run_id": ctx.run.id,
        "backend": ctx.backend.name,
        "command": ctx.command,
        "stages_selected": [s.value for s in ctx.selected],
        "env_name": ctx.env_name,
        "stages": [
            {"name": s.name, "status": s.status.value, "seconds": round(s.seconds, 3),
             **({"detail": s.detail} if s.detail else {})}
            for s in ctx.stages
        ],
        "tests": ctx.tests.to_json() if ctx.tests else None,
        "exit_code": exit_code,
        "error": ctx.error or None,
        "started": ctx.run.started.isoformat(timespec="seconds"),
        "ended": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "endpoints": {name: ep.public_url() for name, ep in ctx.endpoints.items()},
        "artifacts": str(ctx.artifacts),
    }
    path = ctx.artifacts / "run.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(redact(json.dumps(data, indent=2)) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    result_file = os.environ.get(ENV_RESULT_FILE)
    if result_file:
        Path(result_file).write_text(str(ctx.artifacts) + "\n", encoding="utf-8")
    return path
