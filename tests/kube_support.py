"""Shared pieces of the kubernetes backend's tests: the example service, a run."""

from __future__ import annotations

import runpy
from pathlib import Path

from ci.runinfo import RunInfo
from ci.service import Service

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "services" / "agent_executor" / "ci" / "tier3.py"


def example_service() -> Service:
    """agent_executor's own declaration, read from its unchanged runner."""
    service = runpy.run_path(str(RUNNER), run_name="kube_tests")["service"]
    assert isinstance(service, Service)
    return service


def run_of(service: Service, run_id: str = "0123abcd") -> RunInfo:
    return RunInfo(service.name, service.repo_root, id=run_id)
