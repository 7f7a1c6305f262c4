"""Job mode's pure parts, the diagnostics masking and the image loading command."""

from __future__ import annotations

import pytest
import yaml

from ci.backends.kubernetes import diagnostics, jobmode, loadimages
from ci.errors import ConfigError
from ci.masking import masker


def _pod(runner_state: dict, *, reason: str = "") -> dict:
    status: dict = {"containerStatuses": [
        {"name": "runner", "image": "t", "imageID": "", "ready": False, "restartCount": 0,
         "state": runner_state},
        {"name": "collector", "image": "t", "imageID": "", "ready": True, "restartCount": 0,
         "state": {"running": {}}}]}
    if reason:
        status["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": reason,
                                 "message": "0/3 nodes are available"}]
    return {"status": status}


def test_job_outcome() -> None:
    running = _pod({"running": {}})
    assert jobmode.job_outcome({}, running) == ("running", -1)
    assert jobmode.job_outcome({}, _pod({"terminated": {"exitCode": 1}})) == ("finished", 1)
    deadline = {"status": {"conditions": [{"type": "Failed", "status": "True",
                                           "reason": "DeadlineExceeded"}]}}
    assert jobmode.job_outcome(deadline, running) == ("deadline", -1)
    assert jobmode.job_outcome({}, None) == ("running", -1)


def test_runner_failure() -> None:
    assert jobmode.runner_failure(_pod({"running": {}})) == ""
    pull = _pod({"waiting": {"reason": "ImagePullBackOff", "message": "no such image"}})
    assert "ImagePullBackOff" in jobmode.runner_failure(pull)
    assert "Unschedulable" in jobmode.runner_failure(_pod({}, reason="Unschedulable"))


def test_default_test_image() -> None:
    assert jobmode.default_image("agent_executor", {}) == "tiers/agent-executor-tests:local"
    assert jobmode.default_image("x", {jobmode.ENV_TEST_IMAGE: "reg/x:1"}) == "reg/x:1"


def test_masking_env_and_secret_data() -> None:
    doc = {"kind": "Secret", "stringData": {"OPENAI_API_KEY": "sk-real"},
           "spec": {"containers": [{"env": [{"name": "POSTGRES_PASSWORD", "value": "pw"},
                                            {"name": "POSTGRES_DB", "value": "db"}]}]}}
    masked = diagnostics.mask_env(doc)
    assert masked["stringData"] == {"OPENAI_API_KEY": "***"}
    env = masked["spec"]["containers"][0]["env"]
    assert env == [{"name": "POSTGRES_PASSWORD", "value": "***"},
                   {"name": "POSTGRES_DB", "value": "db"}]
    assert doc["stringData"]["OPENAI_API_KEY"] == "sk-real", "the original is untouched"


def test_written_yaml_goes_through_the_masker() -> None:
    masker.register("registered-secret-value", announce=False)
    try:
        text = diagnostics.to_yaml([{"kind": "Pod", "metadata": {
            "annotations": {"note": "registered-secret-value"}}}])
    finally:
        masker.clear()
    assert "registered-secret-value" not in text
    assert yaml.safe_load_all(text)


def test_load_images_command() -> None:
    assert loadimages.command("kind-tiers", "postgres:15") == [
        "kind", "load", "docker-image", "postgres:15", "--name", "tiers"]
    assert loadimages.command("k3d-dev", "nats:2.10") == [
        "k3d", "image", "import", "nats:2.10", "--cluster", "dev"]
    with pytest.raises(ConfigError, match="kind-\\* and k3d-\\*"):
        loadimages.command("minikube", "x")


def test_kube_e2e_session_is_registered_and_parses() -> None:
    from ci.backends.kubernetes import e2e
    from ci.tier2.sessions import DELEGATED

    target, _doc = DELEGATED["kube-e2e"]
    assert target == "ci.backends.kubernetes.e2e:session_kube_e2e"
    opts = e2e.parse(["--context", "kind-tiers", "--only", "host,sigterm"])
    assert opts.context == "kind-tiers" and not opts.load_images
    assert set(opts.only.split(",")) <= set(e2e.SCENARIOS)
    assert set(e2e.SCENARIOS) == {"host", "job", "bad-image", "sigkill", "sigterm"}
    with pytest.raises(SystemExit):
        e2e.parse([])  # --context is required: never a guessed cluster


def test_inside_the_job_the_backend_starts_nothing_and_uses_cluster_dns(tmp_path) -> None:
    from ci.backends.kubernetes.backend import KubernetesBackend
    from ci.console import Console
    from tests.kube_support import example_service, run_of

    service = example_service()
    backend = KubernetesBackend(service, run_of(service), Console("t"),
                                environ={jobmode.ENV_IN_POD: "tiers-agent-executor-1234abcd",
                                         "KUBECONFIG": str(tmp_path / "none")})
    assert backend.sweep() == []
    backend.up()
    pg = service.backends[0]
    ep = backend.endpoint(pg)
    assert (ep.host, ep.port) == ("postgres.tiers-agent-executor-1234abcd.svc", 5432)
    assert backend.native_ready(pg)
    backend.check_alive(pg)
    assert backend.collect(tmp_path, failed=True) == []
    backend.down()
    assert backend.client is None, "no API connection is made inside the Job"
