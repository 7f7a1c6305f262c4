"""Runs left up on purpose with ``--keep``: a small state file per run.

Sweeps skip a kept run even though its owner has exited; ``--down RUN_ID`` and
``--only STAGES --attach RUN_ID`` read the endpoints back from here. Files live
under ``<checkout>/.tiers/kept/`` so kept runs belong to one checkout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ci.endpoints import Endpoint


def kept_dir(checkout: Path) -> Path:
    return checkout / ".tiers" / "kept"


def is_kept(checkout: Path, run_id: str) -> bool:
    return (kept_dir(checkout) / f"{run_id}.json").exists()


def save(checkout: Path, run_id: str, state: dict[str, Any]) -> Path:
    path = kept_dir(checkout) / f"{run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=2, sort_keys=True))
    return path


def load(checkout: Path, run_id: str) -> dict[str, Any] | None:
    path = kept_dir(checkout) / f"{run_id}.json"
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def forget(checkout: Path, run_id: str) -> None:
    (kept_dir(checkout) / f"{run_id}.json").unlink(missing_ok=True)


def list_kept(checkout: Path) -> list[dict[str, Any]]:
    folder = kept_dir(checkout)
    if not folder.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def endpoints_to_json(endpoints: dict[str, Endpoint]) -> dict[str, dict[str, Any]]:
    return {name: ep.__dict__.copy() for name, ep in endpoints.items()}


def endpoints_from_json(data: dict[str, dict[str, Any]]) -> dict[str, Endpoint]:
    return {name: Endpoint(**fields) for name, fields in data.items()}
