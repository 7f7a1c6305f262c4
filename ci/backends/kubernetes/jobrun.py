"""Running the suite as a Job (``--in-cluster``), from the host's side.

The host brings the backing services up exactly as in host mode, then
creates the per-run Secret (values from this environment, sent only to the
API) and the Job, waits for the runner container to finish, copies
``/artifacts`` out of the still-running collector container, and lets the
collector go. The runner's exit code is Tier 3's own, so it is returned as
is; a deadline overrun or a runner that cannot start is an infrastructure
error with its reason.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ci.backends.kubernetes import jobmode, names, readiness
from ci.errors import InfraError, Interrupted
from ci.exit_codes import ExitCode
from ci.tier3.signals import shielded, sigterm_unwinds

if TYPE_CHECKING:
    from ci.backends.kubernetes.backend import KubernetesBackend

KNOWN_CODES = {int(c) for c in ExitCode}
POLL = 0.5


def wait_backings_ready(backend: KubernetesBackend) -> None:
    """The Pods' Ready condition (their readiness probes), failing fast, per backing timeout."""
    deadline = time.monotonic() + max((b.timeout for b in backend.service.backends), default=0)
    while True:
        pending = []
        for backing in backend.service.backends:
            backend.check_alive(backing)
            pod = backend._pod(backing)
            if pod is None or readiness.classify(pod).state is not readiness.State.READY:
                pending.append(backing.name)
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise InfraError(f"not Ready in the cluster in time: {', '.join(pending)}")
        time.sleep(POLL)


def _suite_pod(backend: KubernetesBackend) -> dict[str, Any] | None:
    assert backend.client is not None
    pods = backend.client.list_objects("Pod", namespace=backend.namespace,
                               label_selector=f"{names.ROLE}=suite,"
                               f"{names.RUN_ID}={names.label_value(backend.run.id)}")
    return pods[0] if pods else None


def wait_runner(backend: KubernetesBackend, budget: float) -> tuple[int, str]:
    """``(exit code, pod name)`` of the runner container; raises on deadline or no start."""
    assert backend.client is not None
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        job = backend.client.get("Job", jobmode.JOB_NAME, backend.namespace) or {}
        pod = _suite_pod(backend)
        state, code = jobmode.job_outcome(job, pod)
        if state == "deadline":
            raise InfraError(f"the suite Job ran past its activeDeadlineSeconds "
                             f"({job.get('spec', {}).get('activeDeadlineSeconds')}s): "
                             "Kubernetes stopped it (DeadlineExceeded)",
                             hint="raise Suite(timeout=...) or find what hangs in the logs")
        if pod is not None:
            why = jobmode.runner_failure(pod)
            if why:
                raise InfraError(f"the suite Job's Pod cannot run: {why}",
                                 hint="is the test image loaded (--load-images) or pushed?")
            if state == "finished":
                return code, str(pod["metadata"]["name"])
        time.sleep(POLL)
    raise InfraError(f"the suite Job did not finish within {budget:g}s (host-side bound)")


def copy_out(backend: KubernetesBackend, pod: str, into: Path) -> list[Path]:
    """Untar ``/artifacts`` from the collector, then tell the collector it may exit."""
    assert backend.client is not None
    data = backend.client.exec(backend.namespace, pod, "collector",
                               ["tar", "cf", "-", "-C", jobmode.ARTIFACTS, "."])
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
        written = [into / m.name for m in tar.getmembers() if m.isfile()]
    backend.client.exec(backend.namespace, pod, "collector", ["touch", jobmode.COPIED_MARKER])
    return written


def run(backend: KubernetesBackend, artifacts: Path, environ: Mapping[str, str]) -> int:
    """The whole run; Ctrl-C and SIGTERM unwind through collect and down like the engine's."""
    try:
        with sigterm_unwinds():
            return _run(backend, artifacts, environ)
    except (Interrupted, KeyboardInterrupt):
        backend.console.error("interrupted; the namespace was deleted")
        return int(ExitCode.INTERRUPTED)


def _run(backend: KubernetesBackend, artifacts: Path, environ: Mapping[str, str]) -> int:
    console = backend.console
    failed = True
    try:
        for line in backend.sweep():
            console.info(f"swept {line}")
        backend.up()
        wait_backings_ready(backend)
        assert backend.client is not None and backend.in_cluster is not None
        secret_names = jobmode.secret_names(backend.service, environ)
        values = {n: environ[n] for n in secret_names if n in environ}
        backend.client.create(jobmode.secret(backend.meta, values))
        backend.applied.append(jobmode.secret(backend.meta, dict.fromkeys(values, "")))
        job = jobmode.job(backend.service, backend.meta, backend.in_cluster)
        backend.client.create(job)
        backend.applied.append(job)
        budget = float(job["spec"]["activeDeadlineSeconds"]) + 60
        code, pod = wait_runner(backend, budget)
        copied = copy_out(backend, pod, artifacts / "suite")
        console.info(f"suite Job finished with exit code {code}; "
                     f"{len(copied)} files copied to {artifacts / 'suite'}")
        if code not in KNOWN_CODES:
            raise InfraError(f"the suite's runner exited with {code}, not a Tier 3 exit code "
                             "(killed? out of memory?)")
        failed = code != 0
        return code
    finally:
        with shielded("teardown in progress; the signal is noted and obeyed after it"):
            try:
                backend.collect(artifacts / "logs", failed=failed)
            finally:
                backend.down()
