"""Labels on everything a run creates, and the sweep that uses them.

Neither compose v1 nor v2 can add labels from the command line, so each run
writes a small override file (passed as a second ``--file``) that adds the run's
labels to every service, to the networks and to the named volumes the project
creates. A later run of the same checkout then finds leftovers of a run whose
owner process is gone (SIGKILL, a lost CI runner) and removes them; a live
owner, a kept run, or another checkout's run is never touched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ci import keep
from ci.backends.compose.composefile import ComposeModel
from ci.runinfo import LABEL_PREFIX, RunInfo, owner_alive

RUN_LABEL = f"{LABEL_PREFIX}.run-id"
OWNER_LABEL = f"{LABEL_PREFIX}.owner"
CHECKOUT_LABEL = f"{LABEL_PREFIX}.checkout"
SERVICE_LABEL = f"{LABEL_PREFIX}.service"


def project_name(service: str, run_id: str) -> str:
    """``<service>-<short run id>``, in the characters compose accepts for a project."""
    safe = re.sub(r"[^a-z0-9_-]", "-", service.lower()).strip("-_") or "service"
    return f"{safe}-{run_id[:8]}"


def override(model: ComposeModel, run: RunInfo,
             extra: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The override document adding ``run.labels()`` to services, networks and volumes.

    ``extra`` adds keys to single services (test settings, a cached image).
    """
    labels = run.labels()
    extra = extra or {}
    doc: dict[str, Any] = {
        "services": {name: {**extra.get(name, {}), "labels": dict(labels)}
                     for name in model.services},
        "networks": {name: {"labels": dict(labels)} for name in model.networks},
    }
    if model.volumes:
        doc["volumes"] = {name: {"labels": dict(labels)} for name in model.volumes}
    return doc


def write_override(model: ComposeModel, run: RunInfo, directory: Path,
                   extra: dict[str, dict[str, Any]] | None = None) -> Path:
    """Write the override as JSON (valid YAML, no dumper needed) and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tiers-labels.override.yml"
    path.write_text(json.dumps(override(model, run, extra), indent=2, sort_keys=True) + "\n",
                    encoding="utf-8")
    return path


# -- the sweep -----------------------------------------------------------------
def _abandoned(labels: dict[str, str], checkout: Path, alive: Callable[[str], bool],
               include_kept: bool) -> bool:
    run_id = labels.get(RUN_LABEL, "")
    if not run_id or (not include_kept and keep.is_kept(checkout, run_id)):
        return False
    return not alive(labels.get(OWNER_LABEL, ""))


def _why(labels: dict[str, str]) -> str:
    owner = labels.get(OWNER_LABEL, "?")
    return f"run {labels.get(RUN_LABEL, '?')}, owner pid {owner.partition(':')[0]} gone"


def sweep(cli: Any, checkout: Path, *, alive: Callable[[str], bool] = owner_alive,
          only_runs: Iterable[str] | None = None, include_kept: bool = False) -> list[str]:
    """Remove containers, then networks, then volumes left by dead runs of ``checkout``.

    Containers go first (with their anonymous volumes) because a network or a
    volume in use cannot be removed. Returns one line per thing removed.
    ``only_runs`` and ``include_kept`` serve teardown, which reuses this to
    remove by label whatever ``compose down`` could not.
    """
    import docker.errors

    selector = {"label": [f"{CHECKOUT_LABEL}={checkout}"]}
    wanted = set(only_runs) if only_runs is not None else None
    removed: list[str] = []
    dead_runs: set[str] = set()

    def chosen(labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        if labels.get(CHECKOUT_LABEL) != str(checkout):
            return False
        if wanted is not None and labels.get(RUN_LABEL) not in wanted:
            return False
        return _abandoned(labels, checkout, alive, include_kept)

    for container in cli.containers.list(all=True, filters=selector):
        labels = container.labels
        if not chosen(labels):
            continue
        try:
            container.remove(force=True, v=True)
        except docker.errors.NotFound:
            continue
        dead_runs.add(labels[RUN_LABEL])
        removed.append(f"container {container.name} ({_why(labels)})")
    for network in cli.networks.list(filters=selector):
        labels = network.attrs.get("Labels") or {}
        if not chosen(labels):
            continue
        try:
            network.remove()
        except docker.errors.NotFound:
            continue
        removed.append(f"network {network.name} ({_why(labels)})")
    for volume in cli.volumes.list(filters=selector):
        labels = volume.attrs.get("Labels") or {}
        if not chosen(labels):
            continue
        try:
            volume.remove(force=True)
        except docker.errors.NotFound:
            continue
        removed.append(f"volume {volume.name} ({_why(labels)})")
    return removed
