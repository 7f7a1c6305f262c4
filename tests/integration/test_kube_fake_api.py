"""The kubernetes backend through the real kr8s client, over real HTTP, to a fake API server.

What this proves: the requests the backend makes and how it reads the
answers (status codes, Status bodies, watch streams, logs, access reviews,
the WebSocket port-forward protocol), with every answer schema-valid for
Kubernetes 1.34. What it cannot: scheduling, image pulls, a real kubelet.
"""

from __future__ import annotations

import argparse
import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci.backends.kubernetes import names
from ci.backends.kubernetes.backend import KubernetesBackend
from ci.console import Console
from ci.errors import BackendDied, ConfigError, InfraError
from tests.kube_fake_api import (
    FakeApiServer,
    crash_script,
    unschedulable_script,
    waiting_script,
)
from tests.kube_support import example_service, run_of

pytestmark = pytest.mark.integration
RUN_ID = "feed0001"
NAMESPACE = f"tiers-agent-executor-{RUN_ID}"


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        yield server
        assert server.cluster.schema_errors == [], "fake API sent schema-invalid bodies"


def make_backend(api: FakeApiServer, tmp_path: Path, *, context: str | None = None,
                 contexts: tuple[str, ...] = ("kind-fake",), run_id: str = RUN_ID,
                 **env: str) -> KubernetesBackend:
    config = api.kubeconfig(tmp_path / f"kubeconfig-{run_id}", contexts)
    service = example_service()
    backend = KubernetesBackend(service, run_of(service, run_id), Console("test"),
                                environ={"KUBECONFIG": str(config), "HOME": str(tmp_path),
                                         **env})
    backend.configure(argparse.Namespace(kube_context=context, load_images=False,
                                         in_cluster=None, dry_run=False))
    return backend


class PongServer:
    """A TCP server standing for the container behind a forward: PING -> +PONG."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(1024):
                    if data.strip() == b"PING":
                        conn.sendall(b"+PONG\r\n")


def _wait_ready(backend: KubernetesBackend, budget: float = 10) -> None:
    deadline = time.monotonic() + budget
    pending = list(backend.service.backends)
    while pending and time.monotonic() < deadline:
        for b in list(pending):
            backend.check_alive(b)
            if backend.native_ready(b):
                pending.remove(b)
        time.sleep(0.05)
    assert not pending, f"not ready: {[b.name for b in pending]}"


def test_create_ready_forward_collect_teardown(api: FakeApiServer, tmp_path: Path) -> None:
    pong = PongServer()
    api.cluster.forward_targets[(NAMESPACE, "dragonfly", 6379)] = ("127.0.0.1", pong.port)
    for name, port in (("postgres", 5432), ("nats", 4222)):
        api.cluster.forward_targets[(NAMESPACE, name, port)] = ("127.0.0.1", pong.port)
    backend = make_backend(api, tmp_path)
    try:
        assert backend.sweep() == []
        backend.up()
        assert api.cluster.get("namespaces", "", NAMESPACE) is not None
        endpoints = {b.name: backend.endpoint(b) for b in backend.service.backends}
        assert all(e.host == "127.0.0.1" for e in endpoints.values())
        _wait_ready(backend)
        with socket.create_connection(("127.0.0.1", endpoints["dragonfly"].port), 5) as conn:
            conn.sendall(b"PING\r\n")
            assert conn.recv(100) == b"+PONG\r\n"
        assert "ready to accept" in backend.log_tail(backend.service.backends[0])
        files = backend.collect(tmp_path / "logs", failed=True)
        names_written = {p.name for p in files}
        assert {"manifests.yaml", "events.txt", "pods.json", "postgres.log"} <= names_written
        pods_json = (tmp_path / "logs" / "kubernetes" / "pods.json").read_text()
        assert '"POSTGRES_PASSWORD"' in pods_json and '"test"' not in pods_json.split(
            "POSTGRES_PASSWORD")[1][:40]
        assert "Started container" in (tmp_path / "logs" / "kubernetes" / "events.txt"
                                       ).read_text()
    finally:
        backend.down()
    assert api.cluster.get("namespaces", "", NAMESPACE) is None
    paths = [p for _, p in api.cluster.requests]
    assert any(p.endswith("/pods") for p in paths)
    assert any(p.endswith("/portforward") for p in paths)
    assert any("selfsubjectaccessreviews" in p for p in paths)
    assert ("pods", f"{names.RUN_ID}={RUN_ID},{names.ROLE}=backing") in api.cluster.watches


def test_context_guard_refuses_before_any_request(api: FakeApiServer, tmp_path: Path) -> None:
    backend = make_backend(api, tmp_path, contexts=("prod-eu",))
    with pytest.raises(ConfigError, match="not a well-known local cluster"):
        backend.sweep()
    assert api.cluster.requests == []
    ci = make_backend(api, tmp_path, CI="true")
    with pytest.raises(ConfigError, match="CI=true"):
        ci.sweep()
    assert api.cluster.requests == []
    named = make_backend(api, tmp_path, context="prod-eu", contexts=("prod-eu",))
    assert named.sweep() == []
    named.down()
    assert api.cluster.requests


def test_preflight_denied_portforward_creates_nothing(api: FakeApiServer,
                                                      tmp_path: Path) -> None:
    api.cluster.denied_reviews.add(("create", "pods", "portforward"))
    backend = make_backend(api, tmp_path)
    with pytest.raises(ConfigError, match="may not: create pods/portforward") as err:
        backend.sweep()
    assert "RBAC" in err.value.hint
    assert not [r for r in api.cluster.requests if r[0] == "POST" and "namespaces" in r[1]]


def test_forbidden_create_is_a_config_error_and_down_cleans(api: FakeApiServer,
                                                            tmp_path: Path) -> None:
    api.cluster.denied_requests.add(("POST", "pods"))
    backend = make_backend(api, tmp_path)
    try:
        backend.sweep()
        with pytest.raises(ConfigError, match="forbidden: create Pod") as err:
            backend.up()
        assert "docs/kubernetes-backend.md" in err.value.hint
    finally:
        backend.down()
    assert api.cluster.get("namespaces", "", NAMESPACE) is None


def test_existing_namespace_is_refused(api: FakeApiServer, tmp_path: Path) -> None:
    api.cluster.put("namespaces", "", {"apiVersion": "v1", "kind": "Namespace",
                                       "metadata": {"name": NAMESPACE}}, "ADDED")
    backend = make_backend(api, tmp_path)
    try:
        with pytest.raises(ConfigError, match="not managed by tiers"):
            backend.up()
    finally:
        backend.down()
    assert api.cluster.get("namespaces", "", NAMESPACE) is not None, "must not delete it"


def test_conflict_409_is_reported(api: FakeApiServer, tmp_path: Path) -> None:
    backend = make_backend(api, tmp_path)
    client = backend.connect()
    try:
        doc = backend.rendered()[0]
        client.create(doc)
        with pytest.raises(InfraError, match="already exists"):
            client.create(doc)
        assert client.get("Pod", "nope", NAMESPACE) is None  # 404 -> None
    finally:
        client.close()


FAIL_FAST = [
    ("ErrImagePull", waiting_script("ErrImagePull", 'pull access denied for "nope"')),
    ("ImagePullBackOff", waiting_script("ImagePullBackOff", 'Back-off pulling image "nope"')),
    ("InvalidImageName", waiting_script("InvalidImageName", 'invalid reference format')),
    ("CreateContainerConfigError", waiting_script("CreateContainerConfigError",
                                                  'secret "db-creds" not found')),
    ("CrashLoopBackOff", waiting_script("CrashLoopBackOff", "back-off 10s restarting")),
    ("Terminated", crash_script(restart=False)),
    ("Restarted", crash_script(restart=True)),
    ("Unschedulable", unschedulable_script),
]


@pytest.mark.parametrize(("reason", "script"), FAIL_FAST, ids=[r for r, _ in FAIL_FAST])
def test_fail_fast_states(api: FakeApiServer, tmp_path: Path, reason: str, script: object
                          ) -> None:
    api.cluster.scripts["postgres"] = script  # type: ignore[assignment]
    backend = make_backend(api, tmp_path)
    started = time.monotonic()
    try:
        backend.sweep()
        with pytest.raises(BackendDied) as err:
            backend.up()
        message = err.value.message
        assert message.startswith(f"postgres: {reason}")
        assert "last events:" in message
        if reason != "Unschedulable":
            assert "container postgres:" in message
        assert "describe pod postgres" in err.value.hint
        if reason in ("Terminated", "Restarted"):
            files = backend.collect(tmp_path / "logs", failed=True)
            logs = {p.name: p.read_text() for p in files}
            wanted = "postgres.previous.log" if reason == "Restarted" else "postgres.log"
            assert "wrong ownership" in logs[wanted]
    finally:
        backend.down()
    assert time.monotonic() - started < 10
    assert api.cluster.get("namespaces", "", NAMESPACE) is None


def test_start_budget_is_separate_and_bounded(api: FakeApiServer, tmp_path: Path) -> None:
    api.cluster.scripts["nats"] = waiting_script("ContainerCreating", "")
    backend = make_backend(api, tmp_path, TIERS_KUBE_START_BUDGET="1")
    try:
        backend.sweep()
        with pytest.raises(InfraError, match="start budget of 1s") as err:
            backend.up()
        assert "nats (Pending)" in err.value.message
    finally:
        backend.down()


def test_stuck_namespace_is_reported_with_conditions(api: FakeApiServer,
                                                     tmp_path: Path) -> None:
    api.cluster.stuck_namespaces.add(NAMESPACE)
    backend = make_backend(api, tmp_path, TIERS_KUBE_DELETE_TIMEOUT="1")
    backend.sweep()
    backend.up()
    with pytest.raises(InfraError, match="still Terminating after 1s") as err:
        backend.down()
    assert "NamespaceFinalizersRemaining" in err.value.message
    assert "finalizers were left alone" in err.value.hint
    ns = api.cluster.get("namespaces", "", NAMESPACE)
    assert ns is not None and ns["spec"]["finalizers"] == ["kubernetes"]
    assert not [r for r in api.cluster.requests if r[0] in ("PUT", "PATCH")]


def _leftover(api: FakeApiServer, name: str, *, run: str, owner: str, host: str,
              expires: dt.datetime, checkout: str, kept: bool = False) -> None:
    labels = {names.MANAGED_BY: "tiers", names.RUN_ID: run, names.CHECKOUT: checkout}
    if kept:
        labels[names.KEPT] = "true"
    api.cluster.put("namespaces", "", {
        "apiVersion": "v1", "kind": "Namespace", "status": {"phase": "Active"},
        "metadata": {"name": name, "labels": labels, "annotations": {
            names.OWNER: owner, names.HOST: host,
            names.EXPIRES: expires.isoformat(timespec="seconds")}}}, "ADDED")


def test_sweep_removes_only_dead_runs_of_this_checkout(api: FakeApiServer,
                                                       tmp_path: Path) -> None:
    backend = make_backend(api, tmp_path)
    mine = names.checkout_hash(str(backend.run.checkout))
    here = socket.gethostname()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    dead_owner = "999999999:1"
    _leftover(api, "tiers-a-dead", run="r1", owner=dead_owner, host=here, expires=later,
              checkout=mine)
    _leftover(api, "tiers-a-alive", run="r2", owner=backend.run.owner, host=here,
              expires=past, checkout=mine)
    _leftover(api, "tiers-a-kept", run="r3", owner=dead_owner, host=here, expires=past,
              checkout=mine, kept=True)
    _leftover(api, "tiers-a-other", run="r4", owner=dead_owner, host=here, expires=past,
              checkout="0000000000000000")
    _leftover(api, "tiers-a-far-expired", run="r5", owner="1:1", host="elsewhere",
              expires=past, checkout=mine)
    _leftover(api, "tiers-a-far-live", run="r6", owner="1:1", host="elsewhere",
              expires=later, checkout=mine)
    try:
        removed = backend.sweep()
    finally:
        backend.down()
    assert sorted(line.split()[1] for line in removed) == ["tiers-a-dead",
                                                           "tiers-a-far-expired"]
    time.sleep(0.4)
    left = {n["metadata"]["name"] for n in api.cluster.items("namespaces", None)}
    assert left == {"tiers-a-alive", "tiers-a-kept", "tiers-a-other", "tiers-a-far-live"}


def make_job_backend(api: FakeApiServer, tmp_path: Path) -> KubernetesBackend:
    backend = make_backend(api, tmp_path)
    backend.configure(argparse.Namespace(kube_context=None, load_images=False,
                                         in_cluster="tests:local", dry_run=False))
    return backend


def test_job_mode_runs_the_suite_and_copies_artifacts(api: FakeApiServer,
                                                      tmp_path: Path) -> None:
    from ci.backends.kubernetes import jobrun

    api.cluster.job_files = {"./junit.xml": b"<testsuites/>", "./coverage.xml": b"<c/>",
                             "./logs/pytest.log": b"3 passed"}
    backend = make_job_backend(api, tmp_path)
    secret_value = "sk-job-mode-secret-1234"
    code = jobrun.run(backend, tmp_path / "art", {"OPENAI_API_KEY": secret_value})
    assert code == 0
    assert (tmp_path / "art" / "suite" / "junit.xml").read_text() == "<testsuites/>"
    assert (tmp_path / "art" / "suite" / "logs" / "pytest.log").exists()
    commands = [c for _, container, c in api.cluster.execs if container == "collector"]
    assert commands[0][:2] == ["tar", "cf"] and commands[1][0] == "touch"
    posted = [r for r in api.cluster.requests if r[0] == "POST"]
    assert any(p.endswith("/secrets") for _, p in posted)
    assert any(p.endswith("/jobs") for _, p in posted)
    written = "".join(p.read_text() for p in (tmp_path / "art" / "logs").rglob("*")
                      if p.is_file())
    assert "suite-secrets" in written and secret_value not in written
    assert "3 passed" in (tmp_path / "art" / "logs" / "kubernetes" / "suite-x7k2p.log"
                          ).read_text()
    assert api.cluster.get("namespaces", "", NAMESPACE) is None


def test_job_mode_passes_the_suites_exit_code(api: FakeApiServer, tmp_path: Path) -> None:
    from ci.backends.kubernetes import jobrun

    api.cluster.job_exit_code = 1
    assert jobrun.run(make_job_backend(api, tmp_path), tmp_path / "art", {}) == 1
    assert (tmp_path / "art" / "logs" / "kubernetes" / "pods.json").exists()


def test_job_mode_deadline_and_bad_image_are_infra_errors(api: FakeApiServer,
                                                         tmp_path: Path) -> None:
    from ci.backends.kubernetes import jobrun

    api.cluster.job_deadline = True
    with pytest.raises(InfraError, match="DeadlineExceeded"):
        jobrun.run(make_job_backend(api, tmp_path), tmp_path / "a1", {})
    api.cluster.job_deadline = False
    api.cluster.job_pull_error = True
    with pytest.raises(InfraError, match="cannot run: runner: waiting ErrImagePull"):
        jobrun.run(make_job_backend(api, tmp_path), tmp_path / "a2", {})
    assert api.cluster.get("namespaces", "", NAMESPACE) is None


def test_keep_then_release(api: FakeApiServer, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    from ci import keep as kept

    backend = make_backend(api, tmp_path)
    monkeypatch.setattr(kept, "kept_dir", lambda _checkout: tmp_path / "kept")
    backend.sweep()
    backend.up()
    assert "delete namespace " + NAMESPACE in backend.keep()
    backend.down()
    ns = api.cluster.get("namespaces", "", NAMESPACE)
    assert ns is not None and ns["metadata"]["labels"][names.KEPT] == "true"
    assert kept.load(backend.service.repo_root, RUN_ID).details["context"]  # type: ignore[union-attr] == "kind-fake"
    other = make_backend(api, tmp_path, run_id="feed0002")
    assert other.sweep() == []  # kept runs are never swept
    other.down()
    assert other.release(RUN_ID) == [f"namespace {NAMESPACE}"]


def test_watchdog_sees_a_crash_after_ready(api: FakeApiServer, tmp_path: Path) -> None:
    from tests.kube_fake_api import Step, cond, container_status, healthy_script

    def ready_then_crash(pod: dict) -> list[Step]:
        c = pod["spec"]["containers"][0]
        crashed = {"phase": "Failed", "conditions": [cond("PodScheduled", True),
                                                     cond("Ready", False)],
                   "containerStatuses": [container_status(c["name"], c["image"], {
                       "terminated": {"exitCode": 137, "reason": "OOMKilled",
                                      "startedAt": "2026-01-01T00:00:00Z",
                                      "finishedAt": "2026-01-01T00:00:01Z"}})]}
        return [*healthy_script(pod), Step(1.0, crashed, [("Warning", "OOMKilling",
                                                           "Memory cgroup out of memory")])]

    api.cluster.scripts["nats"] = ready_then_crash
    backend = make_backend(api, tmp_path)
    nats = next(b for b in backend.service.backends if b.name == "nats")
    try:
        backend.sweep()
        backend.up()
        backend.check_alive(nats)
        deadline = time.monotonic() + 10
        with pytest.raises(BackendDied, match="OOMKilled") as err:
            while time.monotonic() < deadline:
                backend.check_alive(nats)
                time.sleep(0.05)
        assert "OOMKilling" in err.value.message
    finally:
        backend.down()


def test_unreachable_server_and_rejected_credentials(api: FakeApiServer, tmp_path: Path
                                                     ) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    config = api.kubeconfig(tmp_path / "unreachable")
    config.write_text(config.read_text().replace(api.url, f"http://127.0.0.1:{port}"))
    service = example_service()
    backend = KubernetesBackend(service, run_of(service), Console("test"),
                                environ={"KUBECONFIG": str(config)})
    with pytest.raises(InfraError, match="cannot reach the Kubernetes API server"):
        backend.sweep()
    config.write_text(api.kubeconfig(tmp_path / "k").read_text().replace(
        "fake-token-for-tests", "wrong-token"))
    backend = KubernetesBackend(service, run_of(service), Console("test"),
                                environ={"KUBECONFIG": str(config)})
    with pytest.raises(ConfigError, match="rejected the credentials"):
        backend.sweep()
    assert ("GET", "/version/") in api.cluster.requests  # kr8s retried, then gave up


def test_forward_to_a_taken_port_is_reported(api: FakeApiServer, tmp_path: Path) -> None:
    pong = PongServer()
    api.cluster.forward_targets[(NAMESPACE, "dragonfly", 6379)] = ("127.0.0.1", pong.port)
    backend = make_backend(api, tmp_path)
    taken = socket.create_server(("127.0.0.1", 0))
    try:
        backend.sweep()
        backend.up()
        client = backend.connect()
        with pytest.raises(InfraError, match=r"cannot listen on 127\.0\.0\.1"):
            client.forward(NAMESPACE, "dragonfly", 6379, taken.getsockname()[1])
        free = socket.create_server(("127.0.0.1", 0))
        port = free.getsockname()[1]
        free.close()
        assert client.forward(NAMESPACE, "dragonfly", 6379, port) == port
    finally:
        taken.close()
        backend.down()
