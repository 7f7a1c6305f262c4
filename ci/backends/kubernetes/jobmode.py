"""``--in-cluster``: the suite itself runs as a Job in the run's namespace.

The Job's runner container runs the very same ``services/<name>/ci/tier3.py``
with ``TIERS_KUBE_IN_POD`` set, which makes this backend hand out cluster-DNS
endpoints and start nothing. Secrets reach it through a per-run Secret and
``envFrom``, so no value is ever in a manifest. ``/artifacts`` is an emptyDir
shared with a collector container that stays alive until the host has copied
the files out: a completed Pod cannot be copied from (kubectl#454).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ci.backends.kubernetes import names
from ci.backends.kubernetes.manifests import Manifest, RunMeta
from ci.masking import ENV_SECRET_NAMES
from ci.service import Service

ENV_IN_POD = "TIERS_KUBE_IN_POD"
ENV_TEST_IMAGE = "TIERS_KUBE_TEST_IMAGE"
ARTIFACTS = "/artifacts"
COPIED_MARKER = f"{ARTIFACTS}/.copied"
COLLECTOR_WAIT = 600
TTL_AFTER_FINISHED = 600
JOB_NAME = "suite"
SECRET_NAME = "suite-secrets"

# The Job condition reason Kubernetes sets when activeDeadlineSeconds ran out.
DEADLINE_REASON = "DeadlineExceeded"


def default_image(service: str, environ: Mapping[str, str]) -> str:
    return environ.get(ENV_TEST_IMAGE) or f"tiers/{names.dns_label(service)}-tests:local"


def secret_names(service: Service, environ: Mapping[str, str] | None = None) -> list[str]:
    declared = {v.name for v in service.requires if v.secret}
    if environ is not None:
        declared |= {n for n in environ.get(ENV_SECRET_NAMES, "").split(",") if n}
    return sorted(declared)


def secret(meta: RunMeta, values: Mapping[str, str]) -> Manifest:
    """The per-run Secret; ``values`` come from the environment, only ever sent to the API."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": SECRET_NAME, "namespace": meta.namespace,
                         "labels": meta.labels()},
            "stringData": dict(values)}


def job(service: Service, meta: RunMeta, image: str) -> Manifest:
    budget = int(service.suite.timeout or 3600) + 300  # the suite plus up/migrate/collect
    runner = {
        "name": "runner",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python", f"services/{service.name}/ci/tier3.py",
                    "--backend", "kubernetes", "--artifacts", ARTIFACTS],
        "env": [{"name": ENV_IN_POD, "value": meta.namespace},
                {"name": "TIERS_RUN_ID", "value": meta.run_id}],
        "envFrom": [{"secretRef": {"name": SECRET_NAME, "optional": False}}],
        "volumeMounts": [{"name": "artifacts", "mountPath": ARTIFACTS}],
    }
    collector = {
        "name": "collector",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c",
                    f"i=0; while [ ! -f {COPIED_MARKER} ] && [ $i -lt {COLLECTOR_WAIT} ]; "
                    "do sleep 1; i=$((i+1)); done"],
        "volumeMounts": [{"name": "artifacts", "mountPath": ARTIFACTS}],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": JOB_NAME, "namespace": meta.namespace,
                     "labels": {**meta.labels(), names.ROLE: "suite"}},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": budget,
            "ttlSecondsAfterFinished": TTL_AFTER_FINISHED,
            "template": {
                "metadata": {"labels": {**meta.labels(), names.ROLE: "suite"}},
                "spec": {
                    "restartPolicy": "Never",
                    "enableServiceLinks": False,
                    "containers": [runner, collector],
                    "volumes": [{"name": "artifacts", "emptyDir": {}}],
                },
            },
        },
    }


def manifests(service: Service, meta: RunMeta, image: str,
              secret_names: list[str]) -> list[Manifest]:
    """Shown by ``--dry-run``: the Secret lists names only, never values."""
    return [secret(meta, {name: "" for name in secret_names}), job(service, meta, image)]


def job_outcome(job_obj: Mapping[str, Any], pod: Mapping[str, Any] | None) -> tuple[str, int]:
    """``(state, runner exit code)``: state is running, finished or deadline."""
    for cond in (job_obj.get("status") or {}).get("conditions") or []:
        if cond.get("status") == "True" and cond.get("reason") == DEADLINE_REASON:
            return "deadline", -1
    for cs in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
        terminated = (cs.get("state") or {}).get("terminated")
        if cs.get("name") == "runner" and terminated:
            return "finished", int(terminated.get("exitCode", 3))
    return "running", -1


def runner_failure(pod: Mapping[str, Any]) -> str:
    """A reason the runner container can never start (image, config), or ''."""
    from ci.backends.kubernetes import readiness

    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in readiness.FATAL_WAITING:
            return readiness.container_summary(cs)
    scheduled = {c.get("type"): c for c in (pod.get("status") or {}).get("conditions") or []}
    unsched = scheduled.get("PodScheduled") or {}
    if unsched.get("reason") == "Unschedulable":
        return f"Unschedulable: {unsched.get('message', '')}"
    return ""
