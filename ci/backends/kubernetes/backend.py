"""``--backend kubernetes``: a namespace per run; the suite on this host via port-forwards.

Order of a run: ``sweep`` connects (context guard, RBAC preflight) and removes
dead runs' namespaces; ``up`` creates the namespace, then the Pods and
Services, recording each as it is applied, and waits out the start budget
(scheduling and image pull) with fail-fast classification; the wait stage's
probes reach each Pod through a forward started when its Ready condition is
True; ``collect`` writes logs, events and manifests; ``down`` deletes the
namespace and waits, boundedly, for it to be gone.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ci import keep as kept
from ci.backends.base import Backend
from ci.backends.compose import composefile
from ci.backends.kubernetes import context as kube_context
from ci.backends.kubernetes import diagnostics, jobmode, loadimages, manifests, names, readiness
from ci.backends.kubernetes import sweep as sweeping
from ci.backends.kubernetes.client import KubeClient
from ci.backends.kubernetes.podcache import PodCache
from ci.backends.kubernetes.portforward import HOST, Forwards
from ci.console import Console
from ci.endpoints import Endpoint
from ci.errors import BackendDied, ConfigError, InfraError
from ci.runinfo import RunInfo
from ci.service import Backing, Service

ENV_START_BUDGET = "TIERS_KUBE_START_BUDGET"
ENV_DELETE_TIMEOUT = "TIERS_KUBE_DELETE_TIMEOUT"
DEFAULT_START_BUDGET = 300.0
DEFAULT_DELETE_TIMEOUT = 60.0


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {raw}")
    return value


class KubernetesBackend(Backend):
    name = "kubernetes"

    def __init__(self, service: Service, run: RunInfo, console: Console,
                 environ: Mapping[str, str] | None = None) -> None:
        super().__init__(service, run, console)
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.meta = manifests.RunMeta.of(run)
        self.kube_context: str | None = None
        self.load_images = False
        self.in_cluster: str | None = None
        self.start_budget = _seconds(self.environ, ENV_START_BUDGET, DEFAULT_START_BUDGET)
        self.delete_timeout = _seconds(self.environ, ENV_DELETE_TIMEOUT, DEFAULT_DELETE_TIMEOUT)
        self.client: KubeClient | None = None
        self.chosen: kube_context.Chosen | None = None
        self.applied: list[manifests.Manifest] = []
        self.namespace_created = False
        self.forwards = Forwards()
        self.pods = PodCache()
        self.in_pod_namespace = self.environ.get(jobmode.ENV_IN_POD, "")

    # -- configuration, plan --------------------------------------------------------------

    def configure(self, options: Any) -> None:
        self.kube_context = getattr(options, "kube_context", None) or None
        self.load_images = bool(getattr(options, "load_images", False))
        in_cluster = getattr(options, "in_cluster", None)
        self.in_cluster = None if in_cluster is None else (
            in_cluster or jobmode.default_image(self.service.name, self.environ))

    @property
    def namespace(self) -> str:
        return self.in_pod_namespace or self.meta.namespace

    def rendered(self) -> list[manifests.Manifest]:
        manifests.check_names(self.service)
        model = composefile.load(self.service.compose_path)
        out = manifests.host_mode(self.service, model, self.meta, self.environ)
        if self.in_cluster is not None:
            out += jobmode.manifests(self.service, self.meta, self.in_cluster,
                                     secret_names=jobmode.secret_names(self.service))
        return out

    def plan(self) -> list[str]:
        return [diagnostics.to_yaml([m]) for m in self.rendered()]

    def describe(self) -> str:
        if self.in_pod_namespace:
            return f"kubernetes (inside namespace {self.in_pod_namespace}, cluster DNS)"
        where = f"context {self.chosen.context}, " if self.chosen else ""
        return f"kubernetes ({where}namespace {self.namespace})"

    def run_in_cluster(self, artifacts: Path, environ: Mapping[str, str]) -> int:
        """``--in-cluster``: the whole run, with the suite as a Job (see jobrun)."""
        from ci.backends.kubernetes import jobrun

        return jobrun.run(self, artifacts, environ)

    # -- connection ----------------------------------------------------------------------

    def connect(self) -> KubeClient:
        if self.client is not None:
            return self.client
        self.chosen = kube_context.choose(self.kube_context, self.environ)
        client = KubeClient(self.chosen.kubeconfig, self.chosen.context)
        try:
            version = client.connect()
            self.console.info(f"kubernetes: context {self.chosen.context} "
                              f"({self.chosen.reason}), server {version}")
            self.check_permissions(client)
        except BaseException:
            client.close()
            raise
        self.client = client
        return client

    def check_permissions(self, client: KubeClient) -> None:
        """Ask, before creating anything, whether every step of the run is allowed."""
        needs = [("create", "namespaces", "", ""), ("delete", "namespaces", "", ""),
                 ("create", "pods", "", ""), ("create", "services", "", ""),
                 ("watch", "pods", "", ""), ("get", "pods", "log", ""),
                 ("list", "events", "", "")]
        if self.in_cluster is None:
            needs.append(("create", "pods", "portforward", ""))
        else:
            needs += [("create", "jobs", "", "batch"), ("create", "secrets", "", ""),
                      ("create", "pods", "exec", "")]
        missing = []
        for verb, resource, sub, group in needs:
            scope = "" if resource == "namespaces" else self.namespace  # cluster-scoped
            allowed, reason = client.can_i(verb, resource, scope, sub, group)
            if not allowed:
                what = f"{verb} {resource}{'/' + sub if sub else ''}"
                missing.append(what + (f" ({reason})" if reason else ""))
        if missing:
            raise ConfigError(
                f"context {client.context!r} may not: {', '.join(missing)}",
                hint="apply the RBAC manifest in docs/kubernetes-backend.md for this user")

    # -- sweep ---------------------------------------------------------------------------

    def sweep(self) -> list[str]:
        if self.in_pod_namespace:
            return []
        client = self.connect()
        found = client.list_objects("Namespace",
                            label_selector=sweeping.selector(names.checkout_hash(
                                str(self.run.checkout))))
        removed = []
        for decision in sweeping.plan(found, checkout_hash=names.checkout_hash(
                str(self.run.checkout)), host=socket.gethostname(),
                now=dt.datetime.now(dt.UTC), current_run=self.run.id):
            if decision.delete:
                client.delete("Namespace", decision.namespace)
                removed.append(f"namespace {decision.namespace} ({decision.reason})")
        return removed

    # -- up ------------------------------------------------------------------------------

    def up(self) -> None:
        if self.in_pod_namespace:
            return
        docs = self.rendered()
        client = self.connect()
        if self.load_images:
            assert self.chosen is not None
            images = sorted({c["image"] for m in docs if m["kind"] == "Pod"
                             for c in m["spec"]["containers"]})
            loadimages.load(self.chosen.context, images, self.console)
        existing = client.get("Namespace", self.namespace)
        if existing is not None:
            labels = (existing.get("metadata") or {}).get("labels") or {}
            if labels.get(names.MANAGED_BY) != names.MANAGER:
                raise ConfigError(f"namespace {self.namespace} exists and is not managed by "
                                  "tiers; refusing to use it",
                                  hint="delete or rename it, or run with another run id")
            raise InfraError(f"namespace {self.namespace} exists already (a run with this id?)")
        namespace, rest = docs[0], [d for d in docs[1:] if d["kind"] in ("Pod", "Service")]
        client.create(namespace)
        self.namespace_created = True
        self.applied.append(namespace)
        self.start_watch(client)
        for doc in rest:
            client.create(doc)
            self.applied.append(doc)
        self.wait_started()

    def start_watch(self, client: KubeClient) -> None:
        self.pods.follow(client, self.namespace,
                         f"{names.RUN_ID}={names.label_value(self.run.id)},{names.ROLE}=backing")

    def _pod(self, backing: Backing) -> dict[str, Any] | None:
        return self.pods.get(names.dns_label(backing.name))

    def _events(self, pod: str) -> list[dict[str, Any]]:
        if self.client is None:
            return []
        try:
            return self.client.list_objects("Event", namespace=self.namespace,
                                    field_selector=f"involvedObject.name={pod}")
        except (ConfigError, InfraError):
            return []

    def _failure(self, backing: Backing, pod: dict[str, Any],
                 verdict: readiness.Verdict) -> BackendDied:
        message = readiness.failure_message(backing.name, pod, verdict,
                                            self._events(names.dns_label(backing.name)))
        return BackendDied(message, hint="kubectl --context "
                           f"{self.chosen.context if self.chosen else '?'} -n "
                           f"{self.namespace} describe pod {names.dns_label(backing.name)}")

    def wait_started(self) -> None:
        """Scheduling and image pulls get their own budget; readiness has the wait stage's."""
        deadline = time.monotonic() + self.start_budget
        pending: list[str] = []
        while True:
            pending = []
            for backing in self.service.backends:
                pod = self._pod(backing)
                verdict = readiness.classify(pod) if pod else readiness.Verdict(
                    readiness.State.PENDING, "not seen yet")
                if pod is not None and verdict.fatal:
                    raise self._failure(backing, pod, verdict)
                if not readiness.started(verdict):
                    pending.append(f"{backing.name} ({verdict.reason})")
            if not pending:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.pods.wait(min(1.0, remaining))
        details = []
        for backing in self.service.backends:
            pod = self._pod(backing) or {}
            details.append(readiness.failure_message(
                backing.name, pod, readiness.classify(pod),
                self._events(names.dns_label(backing.name))))
        raise InfraError(f"not started within the start budget of {self.start_budget:g}s "
                         f"(scheduling and image pull): {', '.join(pending)}\n"
                         + "\n".join(details)
                         + (f"\nwatch error: {self.pods.error}" if self.pods.error else ""),
                         hint=f"raise {ENV_START_BUDGET}, or load the images (--load-images)")

    # -- during the run ----------------------------------------------------------------

    def endpoint(self, backing: Backing) -> Endpoint:
        if self.in_pod_namespace:
            host = f"{names.dns_label(backing.name)}.{self.in_pod_namespace}.svc"
            return backing.endpoint(host, backing.default_port)
        return backing.endpoint(HOST, self.forwards.reserve(backing.name, backing.port))

    def check_alive(self, backing: Backing) -> None:
        if self.in_pod_namespace:
            return
        pod = self._pod(backing)
        if pod is None:
            return
        verdict = readiness.classify(pod)
        if verdict.fatal:
            raise self._failure(backing, pod, verdict)

    def native_ready(self, backing: Backing) -> bool:
        if self.in_pod_namespace:
            return True
        pod = self._pod(backing)
        if pod is None or readiness.classify(pod).state is not readiness.State.READY:
            return False
        with self.forwards.lock:
            if backing.name in self.forwards.started:
                return True
        port = self.forwards.reserve(backing.name, backing.port)
        assert self.client is not None
        self.client.forward(self.namespace, names.dns_label(backing.name),
                            backing.default_port, port)
        with self.forwards.lock:
            self.forwards.started.add(backing.name)
        return True

    def log_tail(self, backing: Backing, lines: int = 20) -> str:
        if self.client is None:
            return ""
        pod = self._pod(backing) or {}
        restarted = any(int(cs.get("restartCount") or 0) > 0
                        for cs in (pod.get("status") or {}).get("containerStatuses") or [])
        try:
            return self.client.logs(self.namespace, names.dns_label(backing.name),
                                    previous=restarted, tail=lines)
        except (ConfigError, InfraError) as exc:
            return f"(no log: {exc.message})"

    # -- collect, down, keep -------------------------------------------------------------

    def collect(self, logs_dir: Path, *, failed: bool) -> list[Path]:
        if self.client is None or not self.namespace_created:
            return []
        out_dir = logs_dir / "kubernetes"
        written = [diagnostics.write(out_dir / "manifests.yaml",
                                     diagnostics.to_yaml(self.applied))]
        pods = self.client.list_objects("Pod", namespace=self.namespace)
        for pod in pods:
            name = str(pod["metadata"]["name"])
            statuses = (pod.get("status") or {}).get("containerStatuses") or []
            for previous in (False, True):
                if previous and not any(int(c.get("restartCount") or 0) for c in statuses):
                    continue
                try:
                    text = self.client.logs(self.namespace, name, previous=previous)
                except (ConfigError, InfraError) as exc:
                    text = f"(no log: {exc.message})"
                suffix = ".previous.log" if previous else ".log"
                written.append(diagnostics.write(out_dir / f"{name}{suffix}", text + "\n"))
        events = self.client.list_objects("Event", namespace=self.namespace)
        written.append(diagnostics.write(out_dir / "events.txt", "\n".join(
            readiness.event_lines(events, limit=len(events) or 1)) + "\n"))
        if failed:
            written.append(diagnostics.write_json(out_dir / "pods.json",
                                                  {"items": [diagnostics.mask_env(p)
                                                             for p in pods]}))
        return written

    def down(self) -> None:
        if self.client is None:
            return
        client = self.client
        try:
            if self.namespace_created:
                client.delete("Namespace", self.namespace)
                self.wait_deleted(client)
        finally:
            client.close()
            self.client = None

    def wait_deleted(self, client: KubeClient) -> None:
        deadline = time.monotonic() + self.delete_timeout
        current: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            current = client.get("Namespace", self.namespace)
            if current is None:
                self.namespace_created = False
                return
            time.sleep(0.25)
        status = (current or {}).get("status") or {}
        conditions = "; ".join(
            f"{c.get('type')}={c.get('status')} {c.get('reason', '')}: {c.get('message', '')}"
            for c in status.get("conditions") or [] if c.get("status") == "True")
        raise InfraError(
            f"namespace {self.namespace} is still {status.get('phase', 'there')} after "
            f"{self.delete_timeout:g}s" + (f": {conditions}" if conditions else ""),
            hint="finalizers were left alone on purpose; see what holds them with "
            f"kubectl get namespace {self.namespace} -o yaml")

    def keep(self) -> str:
        client = self.connect()
        client.patch("Namespace", self.namespace,
                     {"metadata": {"labels": {names.KEPT: "true"}}})
        self.namespace_created = False  # down must leave it
        ctx = self.chosen.context if self.chosen else ""
        command = f"kubectl --context {ctx} delete namespace {self.namespace}"
        # The forwards end with this process; --attach opens them again on
        # these ports (reattach).
        kept.save(self.service.repo_root, kept.KeptRun(
            run_id=self.run.id, service=self.service.name, backend=self.name,
            endpoints={b.name: self.endpoint(b) for b in self.service.backends},
            down=command, details={"namespace": self.namespace, "context": ctx}))
        return f"{command} (port-forwards end with this process; --attach opens them again)"

    def reattach(self, state: kept.KeptRun) -> None:
        namespace = state.details.get("namespace", "")
        self.kube_context = self.kube_context or state.details.get("context") or None
        client = self.connect()
        for backing in self.service.backends:
            endpoint = state.endpoints.get(backing.name)
            if endpoint is None:
                continue
            client.forward(namespace, names.dns_label(backing.name), backing.default_port,
                           endpoint.port)
        self.console.info(f"kubernetes: port-forwards to {namespace} opened again on the "
                          "kept run's ports")

    def release(self, run_id: str) -> list[str]:
        state = kept.load(self.service.repo_root, run_id)
        details = state.details if state else {}
        self.kube_context = self.kube_context or details.get("context") or None
        client = self.connect()
        selector = (f"{names.MANAGED_BY}={names.MANAGER},"
                    f"{names.CHECKOUT}={names.checkout_hash(str(self.run.checkout))},"
                    f"{names.RUN_ID}={names.label_value(run_id)}")
        removed = []
        try:
            for ns in client.list_objects("Namespace", label_selector=selector):
                name = str(ns["metadata"]["name"])
                client.delete("Namespace", name)
                removed.append(f"namespace {name}")
        finally:
            client.close()
            self.client = None
        return removed
