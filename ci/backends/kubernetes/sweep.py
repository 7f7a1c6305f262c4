"""Which leftover namespaces a new run may delete.

Only this checkout's namespaces are candidates (the checkout hash label). On
the host that created a namespace the owner pid answers precisely whether
its run is over; from another host a pid means nothing, so only the expiry
annotation counts there. A kept run is never swept: someone asked for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ci.backends.kubernetes import names
from ci.runinfo import owner_alive


@dataclass(frozen=True)
class Decision:
    namespace: str
    delete: bool
    reason: str


def selector(checkout_hash: str) -> str:
    return f"{names.MANAGED_BY}={names.MANAGER},{names.CHECKOUT}={checkout_hash}"


def _expired(expires: str, now: dt.datetime) -> bool | None:
    try:
        when = dt.datetime.fromisoformat(expires)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when <= now


def decide(ns: Mapping[str, Any], *, checkout_hash: str, host: str, now: dt.datetime,
           current_run: str, alive: Callable[[str], bool] = owner_alive) -> Decision:
    meta = ns.get("metadata") or {}
    name = str(meta.get("name", ""))
    labels = meta.get("labels") or {}
    notes = meta.get("annotations") or {}
    if labels.get(names.MANAGED_BY) != names.MANAGER:
        return Decision(name, False, "not managed by tiers")
    if labels.get(names.CHECKOUT) != checkout_hash:
        return Decision(name, False, "another checkout's run")
    if labels.get(names.RUN_ID) == current_run:
        return Decision(name, False, "this run")
    if labels.get(names.KEPT) == "true" or notes.get(names.KEPT):
        return Decision(name, False, "kept (--keep)")
    if (ns.get("status") or {}).get("phase") == "Terminating":
        return Decision(name, False, "already terminating")
    owner = str(notes.get(names.OWNER, ""))
    if notes.get(names.HOST) == host and owner:
        if alive(owner):
            return Decision(name, False, f"owner {owner} is running")
        return Decision(name, True, f"owner {owner} on this host is gone")
    expired = _expired(str(notes.get(names.EXPIRES, "")), now)
    if expired is None:
        return Decision(name, False, "no readable expiry; remove it by hand if it is stale")
    if expired:
        return Decision(name, True, f"expired at {notes.get(names.EXPIRES)}")
    return Decision(name, False, f"owned by host {notes.get(names.HOST)!r} until "
                    f"{notes.get(names.EXPIRES)}")


def plan(namespaces: Iterable[Mapping[str, Any]], **kwargs: Any) -> list[Decision]:
    return [decide(ns, **kwargs) for ns in namespaces]
