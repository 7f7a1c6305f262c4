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
import shutil
import tempfile
import time
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
OVERRIDE_NAME = "tiers-labels.override.yml"
TEMP_PREFIX = "tiers-compose-"
"""Temporary folders of a run are named ``tiers-compose-<run id>-*``."""


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
    path = directory / OVERRIDE_NAME
    path.write_text(json.dumps(override(model, run, extra), indent=2, sort_keys=True) + "\n",
                    encoding="utf-8")
    return path


# -- the sweep -----------------------------------------------------------------
def gone(exc: BaseException) -> bool:
    """True when ``exc`` means "it no longer exists", which teardown counts as done.

    Another run's sweep or teardown may remove the same thing a moment
    earlier: the daemon then answers 404, or 409 while its removal is still in
    progress. Either way the goal (nothing left) is reached.
    """
    import docker.errors

    if isinstance(exc, docker.errors.NotFound):
        return True
    if isinstance(exc, docker.errors.APIError) and exc.status_code == 409:
        return "already in progress" in str(exc) or "No such" in str(exc)
    return False


def list_containers(cli: Any, labels: list[str]) -> list[dict[str, Any]]:
    """Containers with all of ``labels``, in one API call and without inspecting each.

    ``containers.list()`` of the SDK inspects every container it lists, and
    fails with 404 on one another run removed in between; the list entries
    already hold what is needed here (id, names, labels, state, command).
    """
    found: list[dict[str, Any]] = cli.api.containers(all=True, filters={"label": labels})
    return found


def list_networks(cli: Any, labels: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = cli.api.networks(filters={"label": labels})
    return found


def list_volumes(cli: Any, labels: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (cli.api.volumes(filters={"label": labels}) or {}).get(
        "Volumes") or []
    return found


def container_name(entry: dict[str, Any]) -> str:
    names = entry.get("Names") or [entry.get("Id", "?")[:12]]
    return str(names[0]).lstrip("/")


def remove_container(cli: Any, entry: dict[str, Any]) -> bool:
    """Kill and remove with its anonymous volumes; False if it was already gone."""
    try:
        cli.api.remove_container(entry["Id"], force=True, v=True)
    except Exception as exc:
        if gone(exc):
            return False
        raise
    return True


NETWORK_GRACE = 10.0
"""Seconds a network or volume may stay in use by containers another sweep is removing."""


def _in_use(exc: BaseException) -> bool:
    import docker.errors

    text = str(exc)
    return isinstance(exc, docker.errors.APIError) and (
        "active endpoints" in text or "volume is in use" in text)


def remove_network(cli: Any, entry: dict[str, Any], grace: float = NETWORK_GRACE) -> bool:
    """Remove a network; False if it was already gone.

    A container whose removal another run started a moment ago (409 "removal
    already in progress", counted as gone) may still be attached: the network
    is retried until its endpoints are gone, for at most ``grace`` seconds.
    """
    return _remove_retrying(lambda: cli.api.remove_network(entry["Id"]), grace)


def remove_volume(cli: Any, entry: dict[str, Any], grace: float = NETWORK_GRACE) -> bool:
    """Remove a named volume; False if it was already gone (retried while in use, as above)."""
    return _remove_retrying(lambda: cli.api.remove_volume(entry["Name"], force=True), grace)


def _remove_retrying(remove: Callable[[], Any], grace: float) -> bool:
    """Run ``remove``; False if the thing was already gone, retried while still in use."""
    deadline = time.monotonic() + grace
    while True:
        try:
            remove()
        except Exception as exc:
            if gone(exc):
                return False
            if _in_use(exc) and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            raise
        return True


def _abandoned(labels: dict[str, str], checkout: Path, alive: Callable[[str], bool],
               include_kept: bool) -> bool:
    run_id = labels.get(RUN_LABEL, "")
    if not run_id or (not include_kept and keep.is_kept(checkout, run_id)):
        return False
    return not alive(labels.get(OWNER_LABEL, ""))


def _why(labels: dict[str, str]) -> str:
    owner = labels.get(OWNER_LABEL, "?")
    return f"run {labels.get(RUN_LABEL, '?')}, owner pid {owner.partition(':')[0]} gone"


def temp_dirs(run_id: str) -> list[Path]:
    """The run's ``tiers-compose-<run>-*`` folders (its label override file)."""
    return sorted(Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}{run_id}-*"))


def remove_temp_dirs(run_id: str) -> list[str]:
    removed = []
    for folder in temp_dirs(run_id):
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(f"temporary folder {folder}")
    return removed


def _entry_name(entry: dict[str, Any]) -> str:
    return str(entry.get("Name"))


def sweep(cli: Any, checkout: Path, *, alive: Callable[[str], bool] = owner_alive,
          only_runs: Iterable[str] | None = None, include_kept: bool = False) -> list[str]:
    """Remove containers, then networks, then volumes left by dead runs of ``checkout``.

    Containers go first (with their anonymous volumes) because a network or a
    volume in use cannot be removed. Returns one line per thing removed;
    something another run removed meanwhile is simply not listed.
    ``only_runs`` and ``include_kept`` serve teardown, which reuses this to
    remove by label whatever the SDK or ``compose down`` could not.
    """
    wanted = set(only_runs) if only_runs is not None else None
    selector = [f"{CHECKOUT_LABEL}={checkout}"]
    if wanted is not None and len(wanted) == 1:
        selector.append(f"{RUN_LABEL}={next(iter(wanted))}")
    removed: list[str] = []
    dead_runs: set[str] = set()

    def chosen(labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        if labels.get(CHECKOUT_LABEL) != str(checkout):
            return False
        if wanted is not None and labels.get(RUN_LABEL) not in wanted:
            return False
        return _abandoned(labels, checkout, alive, include_kept)

    # Containers first (with their anonymous volumes): a network or volume in use
    # cannot be removed.
    kinds = (("container", list_containers, remove_container, container_name),
             ("network", list_networks, remove_network, _entry_name),
             ("volume", list_volumes, remove_volume, _entry_name))
    for what, list_all, remove, name_of in kinds:
        for entry in list_all(cli, selector):
            labels = entry.get("Labels") or {}
            if chosen(labels):
                dead_runs.add(labels[RUN_LABEL])
                if remove(cli, entry):
                    removed.append(f"{what} {name_of(entry)} ({_why(labels)})")
    for run_id in sorted(dead_runs):
        removed += remove_temp_dirs(run_id)
    if wanted is None:
        removed += _sweep_temp_dirs(checkout, alive, include_kept)
    return removed


def _sweep_temp_dirs(checkout: Path, alive: Callable[[str], bool],
                     include_kept: bool) -> list[str]:
    """Temp dirs of dead runs that left no container (killed between removal and cleanup).

    The override file inside carries the run's labels, owner included.
    """
    removed = []
    for folder in sorted(Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*")):
        try:
            doc = json.loads((folder / OVERRIDE_NAME).read_text(encoding="utf-8"))
            labels = next(iter(doc["services"].values()))["labels"]
        except (OSError, ValueError, KeyError, TypeError, StopIteration):
            continue
        if (isinstance(labels, dict) and labels.get(CHECKOUT_LABEL) == str(checkout)
                and _abandoned(labels, checkout, alive, include_kept)):
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                removed.append(f"temporary folder {folder} ({_why(labels)})")
    return removed


def leftovers(cli: Any, checkout: Path, run_id: str) -> list[str]:
    """What still carries ``run_id``'s labels: empty after a complete teardown."""
    selector = [f"{CHECKOUT_LABEL}={checkout}", f"{RUN_LABEL}={run_id}"]
    return ([f"container {container_name(c)}" for c in list_containers(cli, selector)]
            + [f"network {n.get('Name')}" for n in list_networks(cli, selector)]
            + [f"volume {v.get('Name')}" for v in list_volumes(cli, selector)])
