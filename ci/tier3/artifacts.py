"""Where a run's evidence goes, and the run.json that summarises it."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from ci.masking import redact
from ci.tier3.context import RunContext

ENV_ARTIFACTS = "TIERS_ARTIFACTS_DIR"


def run_dir(repo_root: Path, service: str, timestamp: str, run_id: str,
            base: Path | None = None) -> Path:
    """``artifacts/integration/<service>/<UTC timestamp>/``, unique per run."""
    if base is None:
        env_base = os.environ.get(ENV_ARTIFACTS)
        base = Path(env_base) if env_base else repo_root / "artifacts"
    folder = base / "integration" / service / timestamp
    if folder.exists():  # two runs in the same second
        folder = folder.with_name(f"{timestamp}-{run_id}")
    folder.mkdir(parents=True)
    return folder


def write_run_json(ctx: RunContext, exit_code: int) -> Path:
    data: dict[str, Any] = {
        "service": ctx.service.name,
        "run_id": ctx.run.id,
        "backend": ctx.backend.name,
        "stages": [
            {"name": s.name, "status": s.status, "seconds": round(s.seconds, 3),
             **({"detail": s.detail} if s.detail else {})}
            for s in ctx.stages
        ],
        "tests": ctx.tests.to_json() if ctx.tests else None,
        "exit_code": exit_code,
        "error": ctx.error or None,
        "started": ctx.run.started.isoformat(timespec="seconds"),
        "ended": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "endpoints": {name: ep.public_url() for name, ep in ctx.endpoints.items()},
    }
    path = ctx.artifacts / "run.json"
    path.write_text(redact(json.dumps(data, indent=2)) + "\n")
    return path
