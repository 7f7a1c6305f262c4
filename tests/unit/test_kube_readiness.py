"""Fail-fast classification of Pod states (shapes as the kubelet reports them)."""

from typing import Any

import pytest

from ci.backends.kubernetes import readiness
from ci.backends.kubernetes.readiness import State


def pod(*, phase: str = "Pending", conditions: list[dict[str, Any]] | None = None,
        state: dict[str, Any] | None = None, restarts: int = 0) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "conditions": conditions or []}
    if state is not None:
        status["containerStatuses"] = [{"name": "db", "image": "postgres:15", "imageID": "",
                                        "ready": False, "restartCount": restarts,
                                        "state": state}]
    return {"metadata": {"name": "db"}, "status": status}


@pytest.mark.parametrize("reason", ["ErrImagePull", "ImagePullBackOff", "InvalidImageName",
                                    "CreateContainerConfigError", "CrashLoopBackOff"])
def test_fatal_waiting_reasons(reason: str) -> None:
    verdict = readiness.classify(pod(state={"waiting": {"reason": reason, "message": "m1"}}))
    assert verdict.state is State.FAILED and verdict.reason == reason
    assert "m1" in verdict.detail


def test_container_creating_is_pending_not_fatal() -> None:
    verdict = readiness.classify(pod(state={"waiting": {"reason": "ContainerCreating"}}))
    assert verdict.state is State.PENDING and not readiness.started(verdict)


def test_terminated_and_restarted() -> None:
    dead = readiness.classify(pod(phase="Running", state={
        "terminated": {"exitCode": 1, "reason": "Error"}}))
    assert dead.reason == "Terminated" and "exit 1" in dead.detail
    again = readiness.classify(pod(phase="Running", state={"running": {}}, restarts=1))
    assert again.reason == "Restarted"
    assert readiness.classify(pod(phase="Failed")).reason == "PodFailed"


def test_unschedulable() -> None:
    verdict = readiness.classify(pod(conditions=[{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/1 nodes are available: 1 Insufficient memory."}]))
    assert verdict.reason == "Unschedulable" and "Insufficient memory" in verdict.detail


def test_running_then_ready() -> None:
    scheduled = [{"type": "PodScheduled", "status": "True"}]
    running = readiness.classify(pod(phase="Running", conditions=scheduled,
                                     state={"running": {}}))
    assert running.state is State.SCHEDULED and readiness.started(running)
    ready = readiness.classify(pod(phase="Running", state={"running": {}}, conditions=[
        *scheduled, {"type": "Ready", "status": "True"}]))
    assert ready.state is State.READY


def test_failure_message_has_container_status_and_last_events() -> None:
    p = pod(state={"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling"}})
    events = [{"type": "Warning", "reason": f"R{i}", "message": f"event {i}",
               "lastTimestamp": f"2026-01-01T00:00:0{i}Z"} for i in range(8)]
    text = readiness.failure_message("postgres", p, readiness.classify(p), events)
    assert text.startswith("postgres: ImagePullBackOff")
    assert "container db: waiting ImagePullBackOff Back-off pulling (restarts 0)" in text
    assert "event 7" in text and "event 3" in text and "event 2" not in text


def test_a_deleted_pod_reads_as_failed() -> None:
    from ci.backends.kubernetes.podcache import gone

    ready = pod(phase="Running", state={"running": {}},
                conditions=[{"type": "Ready", "status": "True"}])
    verdict = readiness.classify(gone(ready))
    assert verdict.state is State.FAILED and "deleted" in verdict.detail
