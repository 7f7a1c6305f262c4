"""Reading a Pod's status: ready, still coming, or never going to make it.

Kubernetes retries almost everything forever: a wrong image tag is an
``ImagePullBackOff`` that waits for a tag that will never appear. A test run
must not sit out its whole timeout on that, so every state that cannot heal
by itself within a run ends the wait at once, with the container status and
the last events in the message so the reader needs no ``kubectl describe``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

FATAL_WAITING = {
    "ErrImagePull": "the image cannot be pulled",
    "ImagePullBackOff": "the image cannot be pulled",
    "ErrImageNeverPull": "the image is not on the node and the pull policy forbids pulling",
    "InvalidImageName": "the image name is invalid",
    "CreateContainerConfigError": "the container's configuration is wrong "
                                  "(a missing Secret or ConfigMap key?)",
    "CreateContainerError": "the container could not be created",
    "RunContainerError": "the container could not be started",
    "CrashLoopBackOff": "the container keeps crashing",
}


class State(enum.Enum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class Verdict:
    state: State
    reason: str = ""
    detail: str = ""

    @property
    def fatal(self) -> bool:
        return self.state is State.FAILED


def _conditions(pod: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("type")): c for c in pod.get("status", {}).get("conditions") or []}


def container_summary(status: Mapping[str, Any]) -> str:
    """One line per container status: name, state, reason, exit code, restarts."""
    name = status.get("name", "?")
    restarts = status.get("restartCount", 0)
    state = status.get("state") or {}
    for key in ("waiting", "terminated", "running"):
        if key in state:
            inner = state[key] or {}
            bits = [f"{name}: {key}"]
            if inner.get("reason"):
                bits.append(str(inner["reason"]))
            if "exitCode" in inner:
                bits.append(f"exit {inner['exitCode']}")
            if inner.get("message"):
                bits.append(str(inner["message"])[:300])
            return " ".join(bits) + f" (restarts {restarts})"
    return f"{name}: no state yet (restarts {restarts})"


def classify(pod: Mapping[str, Any]) -> Verdict:
    status = pod.get("status") or {}
    conditions = _conditions(pod)
    statuses = list(status.get("initContainerStatuses") or []) + list(
        status.get("containerStatuses") or [])
    for cs in statuses:
        state = cs.get("state") or {}
        waiting = state.get("waiting") or {}
        reason = str(waiting.get("reason") or "")
        if reason in FATAL_WAITING:
            return Verdict(State.FAILED, reason, f"{FATAL_WAITING[reason]}; "
                           + container_summary(cs))
        if "terminated" in state and not _is_init_done(cs, status):
            return Verdict(State.FAILED, "Terminated",
                           "the container exited; " + container_summary(cs))
        if int(cs.get("restartCount") or 0) > 0:
            return Verdict(State.FAILED, "Restarted",
                           "the container restarted; " + container_summary(cs))
    phase = status.get("phase")
    if phase in ("Failed", "Succeeded"):
        return Verdict(State.FAILED, f"Pod{phase}",
                       str(status.get("message") or status.get("reason") or phase))
    scheduled = conditions.get("PodScheduled", {})
    if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        return Verdict(State.FAILED, "Unschedulable", str(scheduled.get("message", "")))
    if conditions.get("Ready", {}).get("status") == "True":
        return Verdict(State.READY)
    if scheduled.get("status") == "True" and any(
            "running" in (cs.get("state") or {}) for cs in statuses):
        return Verdict(State.SCHEDULED, "Running", "started, readiness probe not passing yet")
    return Verdict(State.PENDING, str(phase or "Pending"))


def _is_init_done(cs: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """An init container that exited 0 is finished, not dead."""
    init_names = {c.get("name") for c in status.get("initContainerStatuses") or []}
    terminated = (cs.get("state") or {}).get("terminated") or {}
    return cs.get("name") in init_names and terminated.get("exitCode") == 0


def started(verdict: Verdict) -> bool:
    """Past scheduling and image pull: the start budget no longer applies."""
    return verdict.state in (State.SCHEDULED, State.READY)


def event_lines(events: Iterable[Mapping[str, Any]], limit: int = 5) -> list[str]:
    """The last events, oldest first, as ``Type Reason: message`` lines."""
    def when(e: Mapping[str, Any]) -> str:
        return str(e.get("lastTimestamp") or e.get("eventTime") or
                   (e.get("metadata") or {}).get("creationTimestamp") or "")

    ordered = sorted(events, key=when)[-limit:]
    return [f"{e.get('type', '')} {e.get('reason', '')}: {e.get('message', '')}".strip()
            for e in ordered]


def failure_message(backing: str, pod: Mapping[str, Any], verdict: Verdict,
                    events: Iterable[Mapping[str, Any]]) -> str:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    lines = [f"{backing}: {verdict.reason}: {verdict.detail}".rstrip(": ")]
    lines += [f"  container {container_summary(cs)}" for cs in statuses]
    recent = event_lines(events)
    if recent:
        lines.append("  last events:")
        lines += [f"    {line}" for line in recent]
    return "\n".join(lines)
