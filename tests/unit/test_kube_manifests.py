"""Manifests rendered from compose/agent_executor.yml, checked against the official schemas."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ci import postgres, redis
from ci.backends.compose import composefile
from ci.backends.kubernetes import jobmode, manifests, names
from ci.errors import ConfigError
from tests.kube_schemas import validate
from tests.kube_support import ROOT, RUNNER, example_service, run_of


def _rendered(in_cluster: bool = False) -> list[dict]:
    service = example_service()
    meta = manifests.RunMeta.of(run_of(service))
    model = composefile.load(service.compose_path)
    docs = manifests.host_mode(service, model, meta, environ={})
    if in_cluster:
        docs += jobmode.manifests(service, meta, "tests:local", jobmode.secret_names(service))
    return docs


def test_every_manifest_validates_strictly_against_two_minor_versions() -> None:
    docs = _rendered(in_cluster=True)
    assert [d["kind"] for d in docs] == ["Namespace", "Pod", "Service", "Pod", "Service",
                                         "Pod", "Service", "Secret", "Job"]
    for doc in docs:
        validate(doc)


def test_the_cached_validator_agrees_with_kubernetes_validate() -> None:
    import kubernetes_validate

    for doc in _rendered(in_cluster=True):
        for version in ("1.30", "1.34"):
            kubernetes_validate.validate(doc, version, strict=True)
    pod = _rendered()[1]
    pod["spec"]["containers"][0]["imagePullPolicy"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, "1.34", strict=True)
    with pytest.raises(AssertionError, match="imagePullPolicy"):
        validate(pod)


def test_strict_validation_catches_a_misspelt_field() -> None:
    pod = _rendered()[1]
    pod["spec"]["restartPolicyy"] = "Never"
    with pytest.raises(AssertionError, match="restartPolicyy"):
        validate(pod)


def test_namespace_labels_and_annotations() -> None:
    ns = _rendered()[0]
    labels, notes = ns["metadata"]["labels"], ns["metadata"]["annotations"]
    assert ns["metadata"]["name"] == "tiers-agent-executor-0123abcd"
    assert labels[names.MANAGED_BY] == "tiers"
    assert labels[names.RUN_ID] == "0123abcd"
    assert labels[names.SERVICE] == "agent_executor"
    assert labels[names.CHECKOUT] == names.checkout_hash(str(ROOT))
    assert all(names.is_label_value(v) for v in labels.values())
    assert set(notes) == {names.OWNER, names.HOST, names.EXPIRES}


def test_pods_follow_the_compose_file() -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for d in _rendered()}
    pg = docs[("Pod", "postgres")]["spec"]
    assert pg["restartPolicy"] == "Never"
    (c,) = pg["containers"]
    assert c["image"] == "postgres:15" and c["imagePullPolicy"] == "IfNotPresent"
    assert {"name": "POSTGRES_DB", "value": "agent_executor_test"} in c["env"]
    assert c["readinessProbe"]["exec"]["command"][0] == "pg_isready"
    assert c["readinessProbe"]["periodSeconds"] == 1
    assert c["readinessProbe"]["failureThreshold"] == 30
    dragonfly = docs[("Pod", "dragonfly")]["spec"]["containers"][0]
    assert dragonfly["readinessProbe"]["exec"]["command"][:2] == ["/bin/sh", "-c"]
    nats = docs[("Pod", "nats")]["spec"]["containers"][0]
    assert nats["args"] == ["-js", "-m", "8222"] and "command" not in nats
    svc = docs[("Service", "nats")]["spec"]
    assert svc["type"] == "ClusterIP" and svc["ports"][0]["port"] == 4222
    assert svc["selector"][names.BACKING] == "nats"


def test_healthcheck_forms_and_durations() -> None:
    assert manifests.seconds("1m30s", 0) == 90 and manifests.seconds("500ms", 0) == 0.5
    probe = manifests.readiness_probe({"test": "redis-cli ping", "interval": "500ms",
                                       "start_period": "10s"}, 6379, "x")
    assert probe["exec"]["command"] == ["/bin/sh", "-c", "redis-cli ping"]
    assert probe["periodSeconds"] == 1 and probe["initialDelaySeconds"] == 10
    assert "tcpSocket" in manifests.readiness_probe(None, 5432, "x")
    assert "tcpSocket" in manifests.readiness_probe({"test": ["NONE"]}, 5432, "x")
    with pytest.raises(ConfigError, match="healthcheck"):
        manifests.readiness_probe({"test": ["WHAT"]}, 1, "compose service 'a'")
    with pytest.raises(ConfigError, match="duration"):
        manifests.seconds("soon", 0)


def test_volumes_become_empty_dirs_and_validate(tmp_path: Path) -> None:
    compose = tmp_path / "c.yml"
    compose.write_text(yaml.safe_dump({"services": {"db": {
        "image": "${IMG:-postgres:16}", "entrypoint": "docker-entrypoint.sh",
        "command": "postgres -c fsync=off", "environment": ["A=1", "B=${B_VAL:-two}"],
        "volumes": ["data:/var/lib/postgresql/data"], "tmpfs": "/run"}}}))
    model = composefile.load(compose)
    service = example_service()
    meta = manifests.RunMeta.of(run_of(service))
    pod = manifests.backing_pod(postgres("db"), model.services["db"], meta, environ={})
    validate(pod)
    c = pod["spec"]["containers"][0]
    assert c["image"] == "postgres:16"
    assert c["command"] == ["docker-entrypoint.sh"]
    assert c["args"] == ["postgres", "-c", "fsync=off"]
    assert c["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "two"}]
    assert [m["mountPath"] for m in c["volumeMounts"]] == ["/var/lib/postgresql/data", "/run"]
    assert all("emptyDir" in v for v in pod["spec"]["volumes"])


def test_missing_image_or_service_is_a_config_error(tmp_path: Path) -> None:
    compose = tmp_path / "c.yml"
    compose.write_text("services:\n  db:\n    build: .\n")
    model = composefile.load(compose)
    meta = manifests.RunMeta.of(run_of(example_service()))
    with pytest.raises(ConfigError, match="names no `image`"):
        manifests.backing_pod(postgres("db"), model.services["db"], meta)
    with pytest.raises(ConfigError, match="no service 'cache'"):
        manifests.compose_spec(model, redis("cache"))


def test_job_keeps_secrets_out_and_bounds_the_run() -> None:
    secret, job = _rendered(in_cluster=True)[-2:]
    assert secret["stringData"] == {"OPENAI_API_KEY": ""}
    spec = job["spec"]
    assert spec["backoffLimit"] == 0 and spec["activeDeadlineSeconds"] > 300
    assert spec["ttlSecondsAfterFinished"] > 0
    runner, collector = spec["template"]["spec"]["containers"]
    assert runner["envFrom"] == [{"secretRef": {"name": "suite-secrets", "optional": False}}]
    assert not any(e["name"] == "OPENAI_API_KEY" for e in runner["env"])
    assert collector["volumeMounts"] == runner["volumeMounts"]


def test_dry_run_prints_valid_manifests_and_starts_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(RUNNER), "--backend", "kubernetes", "--dry-run", "--in-cluster"],
        capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none"),
             "OPENAI_API_KEY": "sk-dry-run-secret-value"})
    assert done.returncode == 0, done.stderr
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    assert [d["kind"] for d in docs].count("Pod") == 3
    for doc in docs:
        validate(doc)
    assert "sk-dry-run-secret-value" not in done.stdout + done.stderr
    assert not (ROOT / "artifacts" / "integration" / "agent_executor" / "dry").exists()
