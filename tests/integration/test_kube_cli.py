"""A runner, unchanged, on ``--backend kubernetes`` through the CLI, against the fake API.

The cluster is the fake API server; the servers behind its port-forwards are
real (started by the local backend), so the whole run happens: up, wait with
the protocol probes through kr8s's forwards, migrations, the suite, collect,
down. What stands in is only the control plane.
"""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci.backends.local import binaries
from ci.backends.local.backend import LocalBackend
from ci.console import Console
from ci.errors import ConfigError
from ci.kinds import kind_class
from ci.runinfo import RunInfo
from ci.service import Service
from tests.integration.demo_service import make_demo
from tests.kube_fake_api import FakeApiServer
from tests.prereqs import need

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


def test_demo_runner_passes_on_kubernetes(api: FakeApiServer, tmp_path: Path) -> None:
    for kind in ("postgres", "redis"):
        try:
            binaries.find(kind_class(kind).binaries, kind)  # type: ignore[arg-type]
        except ConfigError as exc:
            need(False, f"a local {kind} server binary", exc.hint)
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
        result = subprocess.run(
            [sys.executable, str(demo.runner), "--backend", "kubernetes",
             "--kube-context", "kind-fake"],
            cwd=demo.checkout, env=demo.env(KUBECONFIG=str(config), CI="true"),
            capture_output=True, text=True, timeout=300, check=False)
    finally:
        servers.down()
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "context kind-fake" in out
    [art] = demo.artifacts()
    run = json.loads((art / "run.json").read_text())
    assert run["backend"] == "kubernetes" and run["tests"]["passed"] == 3
    assert (art / "logs" / "kubernetes" / "manifests.yaml").exists()
    assert api.cluster.items("namespaces", None) == [] or all(
        n["status"]["phase"] == "Terminating" for n in api.cluster.items("namespaces", None))
    assert any(p.endswith("/portforward") for _, p in api.cluster.requests)


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
