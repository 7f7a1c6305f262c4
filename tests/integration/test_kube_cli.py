"""A runner, unchanged, on ``--backend kubernetes`` through the CLI, against the fake API.

The cluster is the fake API server; the servers behind its port-forwards are
real (started by the local backend), so the whole run happens: up, wait with
the protocol probes through kr8s's forwards, migrations, the suite, collect,
down. What stands in is only the control plane.
"""

from __future__ import annotations

import json
import re
import runpy
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ci.backends.local.backend import LocalBackend
from ci.console import Console
from ci.runinfo import RunInfo
from ci.service import Service
from tests.integration.demo_service import Demo, make_demo
from tests.kube_fake_api import FakeApiServer
from tests.prereqs import need_servers

pytestmark = pytest.mark.integration

DEMO_COMPOSE = """
services:
  db:
    image: postgres:16
    environment: {POSTGRES_DB: demo, POSTGRES_USER: test, POSTGRES_PASSWORD: test}
    healthcheck: {test: ["CMD", "pg_isready", "-U", "test"], interval: 1s}
  cache:
    image: redis:7
"""


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        yield server
        assert server.cluster.schema_errors == []


@dataclass
class DemoCluster:
    """The demo service, its real servers behind the fake cluster's forwards."""

    demo: Demo
    env: dict[str, str]

    def tier3(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(self.demo.runner), *args],
                              cwd=self.demo.checkout, env=self.env, capture_output=True,
                              text=True, timeout=300, check=False)


@pytest.fixture
def demo_cluster(api: FakeApiServer, tmp_path: Path) -> Iterator[DemoCluster]:
    need_servers("postgres", "redis")
    demo = make_demo(tmp_path)
    (demo.checkout / "compose").mkdir()
    (demo.checkout / "compose" / "demo.yml").write_text(DEMO_COMPOSE)
    service = runpy.run_path(str(demo.runner), run_name="kube_cli_test")["service"]
    assert isinstance(service, Service)
    servers = LocalBackend(service, RunInfo(service.name, demo.checkout), Console("servers"))
    try:
        servers.up()
        for backing in service.backends:
            ep = servers.endpoint(backing)
            api.cluster.forward_targets[("*", backing.name, backing.default_port)] = (
                ep.host, ep.port)
        config = api.kubeconfig(tmp_path / "kubeconfig")
        yield DemoCluster(demo, demo.env(KUBECONFIG=str(config), CI="true"))
    finally:
        servers.down()


def _forwards(api: FakeApiServer) -> int:
    return sum(p.endswith("/portforward") for _, p in api.cluster.requests)


def test_demo_runner_passes_on_kubernetes(api: FakeApiServer,
                                          demo_cluster: DemoCluster) -> None:
    result = demo_cluster.tier3("--backend", "kubernetes", "--kube-context", "kind-fake")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "context kind-fake" in out
    [art] = demo_cluster.demo.artifacts()
    run = json.loads((art / "run.json").read_text())
    assert run["backend"] == "kubernetes" and run["tests"]["passed"] == 3
    assert (art / "logs" / "kubernetes" / "manifests.yaml").exists()
    assert api.cluster.items("namespaces", None) == [] or all(
        n["status"]["phase"] == "Terminating" for n in api.cluster.items("namespaces", None))
    assert _forwards(api) > 0


def test_keep_then_attach_opens_the_forwards_again_then_down(
        api: FakeApiServer, demo_cluster: DemoCluster) -> None:
    """On-call's loop on Kubernetes: --keep, --attach RUN --only test, --down RUN.

    The forwards of the kept run ended with its process; the attaching run
    must open them again on the recorded ports, or its suite reaches nothing.
    """
    kept_run = demo_cluster.tier3("--backend", "kubernetes", "--kube-context", "kind-fake",
                                  "--keep")
    out = kept_run.stdout + kept_run.stderr
    assert kept_run.returncode == 0, out
    match = re.search(r"--attach ([0-9a-f]{8})", out)
    assert match, out
    run_id = match.group(1)
    forwards_before = _forwards(api)

    attached = demo_cluster.tier3("--attach", run_id, "--only", "test")
    out = attached.stdout + attached.stderr
    assert attached.returncode == 0, out
    assert "port-forwards to" in out and "opened again" in out
    assert "3 passed" in out
    assert _forwards(api) > forwards_before

    down = demo_cluster.tier3("--down", run_id)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "namespace tiers-" in down.stdout + down.stderr


def test_in_cluster_through_the_cli(api: FakeApiServer, tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    api.cluster.job_files = {"./integration/agent_executor/x/junit.xml": b"<testsuites/>"}
    config = api.kubeconfig(tmp_path / "kubeconfig")
    result = subprocess.run(
        [sys.executable, str(root / "services" / "agent_executor" / "ci" / "tier3.py"),
         "--backend", "kubernetes", "--kube-context", "kind-fake", "--in-cluster", "t:1",
         "--artifacts", str(tmp_path / "art")],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KUBECONFIG": str(config),
             "CI": "true", "OPENAI_API_KEY": "sk-cli-job-secret"},
        capture_output=True, text=True, timeout=300, check=False)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert list((tmp_path / "art").rglob("suite/integration/agent_executor/x/junit.xml"))
    assert "sk-cli-job-secret" not in out
    written = "".join(p.read_text() for p in (tmp_path / "art").rglob("*.yaml"))
    assert "suite-secrets" in written and "sk-cli-job-secret" not in written


def test_non_local_context_exits_2_before_any_request(api: FakeApiServer,
                                                      tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    config = api.kubeconfig(tmp_path / "kubeconfig", contexts=("prod-eu",))
    result = subprocess.run(
        [sys.executable, str(root / "services" / "agent_executor" / "ci" / "tier3.py"),
         "--backend", "kubernetes", "--artifacts", str(tmp_path / "art")],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KUBECONFIG": str(config)},
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "'prod-eu' is not a well-known local cluster" in result.stdout + result.stderr
    assert api.cluster.requests == []


def test_in_cluster_with_another_backend_exits_2(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, str(root / "services" / "agent_executor" / "ci" / "tier3.py"),
         "--backend", "local", "--in-cluster", "t:1", "--artifacts", str(tmp_path / "art")],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--in-cluster needs --backend kubernetes" in result.stdout + result.stderr
