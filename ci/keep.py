"""Runs left up on purpose with ``--keep``: a small typed record per run.

Sweeps skip a kept run even though its owner has exited; ``--down RUN_ID`` and
``--only STAGES --attach RUN_ID`` read the endpoints back from here. Files live
under ``<checkout>/.tiers/kept/`` so kept runs belong to one checkout.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ci.endpoints import Endpoint
from ci.errors import ConfigError


@dataclass(frozen=True)
class KeptRun:
    run_id: str
    service: str
    backend: str
    endpoints: dict[str, Endpoint]
    down: str
    """The command that tears it down, as printed when it was kept."""
    details: dict[str, str] = field(default_factory=dict)
    """What the backend needs to find it again (compose project and file, ...)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "service": self.service, "backend": self.backend,
            "endpoints": {n: ep.__dict__.copy() for n, ep in self.endpoints.items()},
            "down": self.down, "details": dict(self.details),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KeptRun:
        return cls(
            run_id=str(data["run_id"]), service=str(data["service"]),
            backend=str(data["backend"]),
            endpoints={n: Endpoint(**f) for n, f in dict(data.get("endpoints", {})).items()},
            down=str(data.get("down", "")),
            details={str(k): str(v) for k, v in dict(data.get("details", {})).items()},
        )


def kept_dir(checkout: Path) -> Path:
    return checkout / ".tiers" / "kept"


def _path(checkout: Path, run_id: str) -> Path:
    return kept_dir(checkout) / f"{run_id}.json"


def is_kept(checkout: Path, run_id: str) -> bool:
    return _path(checkout, run_id).exists()


def save(checkout: Path, run: KeptRun) -> Path:
    path = _path(checkout, run.run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(run.to_json(), indent=2, sort_keys=True))
    os.replace(tmp, path)
    return path


def _read(path: Path) -> KeptRun:
    try:
        return KeptRun.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"kept-run file {path} is unreadable: {exc}",
                          hint="delete it; if its servers still run, the next run's sweep "
                          "cannot tell them apart, so stop them by hand") from None


def load(checkout: Path, run_id: str) -> KeptRun | None:
    path = _path(checkout, run_id)
    return _read(path) if path.exists() else None


def forget(checkout: Path, run_id: str) -> None:
    _path(checkout, run_id).unlink(missing_ok=True)


def list_kept(checkout: Path) -> list[KeptRun]:
    folder = kept_dir(checkout)
    if not folder.is_dir():
        return []
    return [_read(p) for p in sorted(folder.glob("*.json"))]
