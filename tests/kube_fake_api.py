"""A small Kubernetes API server for client-boundary tests: real HTTP on 127.0.0.1.

It serves exactly the endpoints the kubernetes backend uses (version, access
reviews, namespaces, pods with watch and log, services, events, secrets, jobs,
pod port-forward over WebSocket), with the API server's status codes and
``Status`` bodies for 401/403/404/409. A scripted "kubelet" moves each Pod
through the states a real node reports, and every JSON body the server sends
is checked against the official schema of Kubernetes 1.34; a body that does
not validate is recorded in ``schema_errors`` so a test fails on it.

What it cannot stand for: scheduling, image pulls and container runtimes; its
Pod states are the documented shapes, played back.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime as dt
import hashlib
import io
import itertools
import json
import socket
import struct
import tarfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests import kube_schemas

TOKEN = "fake-token-for-tests"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# (url segment, kind, apiVersion, namespaced)
RESOURCES = {
    "namespaces": ("Namespace", "v1", False),
    "pods": ("Pod", "v1", True),
    "services": ("Service", "v1", True),
    "events": ("Event", "v1", True),
    "secrets": ("Secret", "v1", True),
    "jobs": ("Job", "batch/v1", True),
}


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Step:
    """One state a Pod passes through: its ``status`` and the events it brings."""

    after: float
    status: dict[str, Any]
    events: list[tuple[str, str, str]] = field(default_factory=list)
    logs: str | None = None


def container_status(name: str, image: str, state: dict[str, Any], *, ready: bool = False,
                     restarts: int = 0) -> dict[str, Any]:
    return {"name": name, "image": image, "imageID": "", "ready": ready,
            "restartCount": restarts, "started": "running" in state, "state": state}


def cond(kind: str, status: bool, reason: str = "", message: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind, "status": "True" if status else "False",
                           "lastTransitionTime": now()}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def healthy_script(pod: dict[str, Any]) -> list[Step]:
    c = pod["spec"]["containers"][0]
    name, image = c["name"], c["image"]
    return [
        Step(0.05, {"phase": "Pending", "conditions": [cond("PodScheduled", True)],
                    "containerStatuses": [container_status(
                        name, image, {"waiting": {"reason": "ContainerCreating"}})]},
             [("Normal", "Scheduled", "Successfully assigned to node-1"),
              ("Normal", "Pulled", f'Container image "{image}" already present')]),
        Step(0.1, {"phase": "Running", "podIP": "10.0.0.7", "startTime": now(),
                   "conditions": [cond("PodScheduled", True), cond("Ready", False)],
                   "containerStatuses": [container_status(
                       name, image, {"running": {"startedAt": now()}})]},
             [("Normal", "Started", f"Started container {name}")], logs="server starting\n"),
        Step(0.1, {"phase": "Running", "podIP": "10.0.0.7", "startTime": now(),
                   "conditions": [cond("PodScheduled", True), cond("Ready", True)],
                   "containerStatuses": [container_status(
                       name, image, {"running": {"startedAt": now()}}, ready=True)]},
             logs="server starting\nready to accept connections\n"),
    ]


def waiting_script(reason: str, message: str) -> Callable[[dict[str, Any]], list[Step]]:
    def script(pod: dict[str, Any]) -> list[Step]:
        c = pod["spec"]["containers"][0]
        return [Step(0.05, {"phase": "Pending", "conditions": [cond("PodScheduled", True)],
                            "containerStatuses": [container_status(
                                c["name"], c["image"],
                                {"waiting": {"reason": reason, "message": message}})]},
                     [("Warning", "Failed", message)])]
    return script


def unschedulable_script(pod: dict[str, Any]) -> list[Step]:
    message = "0/1 nodes are available: 1 Insufficient memory."
    return [Step(0.05, {"phase": "Pending", "conditions": [
        cond("PodScheduled", False, "Unschedulable", message)]},
        [("Warning", "FailedScheduling", message)])]


def crash_script(restart: bool) -> Callable[[dict[str, Any]], list[Step]]:
    def script(pod: dict[str, Any]) -> list[Step]:
        c = pod["spec"]["containers"][0]
        steps = healthy_script(pod)[:2]
        terminated = {"terminated": {"exitCode": 1, "reason": "Error",
                                     "startedAt": now(), "finishedAt": now()}}
        if restart:
            status = {"phase": "Running", "conditions": [cond("PodScheduled", True)],
                      "containerStatuses": [container_status(
                          c["name"], c["image"], {"running": {"startedAt": now()}},
                          restarts=1) | {"lastState": terminated}]}
        else:
            status = {"phase": "Failed", "conditions": [cond("PodScheduled", True)],
                      "containerStatuses": [container_status(c["name"], c["image"],
                                                             terminated)]}
        steps.append(Step(0.1, status, [("Warning", "BackOff", "container exited with 1")],
                          logs="FATAL: data directory has wrong ownership\n"))
        return steps
    return script


class Cluster:
    """The fake server's state; tests set scripts, denials and stuck namespaces on it."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.rv = itertools.count(1000)
        self.history: list[tuple[int, str, str, str, dict[str, Any]]] = []
        self.changed = threading.Condition(self.lock)
        self.scripts: dict[str, Callable[[dict[str, Any]], list[Step]]] = {}
        self.logs: dict[tuple[str, str], str] = {}
        self.previous_logs: dict[tuple[str, str], str] = {}
        self.denied_reviews: set[tuple[str, str, str]] = set()
        self.denied_requests: set[tuple[str, str]] = set()
        self.stuck_namespaces: set[str] = set()
        self.forward_targets: dict[tuple[str, str, int], tuple[str, int]] = {}
        self.requests: list[tuple[str, str]] = []
        self.job_exit_code = 0
        self.job_deadline = False
        self.job_pull_error = False
        self.job_files: dict[str, bytes] = {}
        self.execs: list[tuple[str, str, list[str]]] = []
        self.watches: list[tuple[str, str]] = []
        self.schema_errors: list[str] = []
        self.closing = threading.Event()

    # -- object store -----------------------------------------------------------------

    def put(self, resource: str, namespace: str, obj: dict[str, Any], event: str) -> None:
        with self.lock:
            rv = next(self.rv)
            obj["metadata"]["resourceVersion"] = str(rv)
            key = (resource, namespace, obj["metadata"]["name"])
            if event == "DELETED":
                self.objects.pop(key, None)
            else:
                self.objects[key] = obj
            self.history.append((rv, event, resource, namespace, copy.deepcopy(obj)))
            self.changed.notify_all()

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects.get((resource, namespace, name))
            return copy.deepcopy(obj) if obj else None

    def items(self, resource: str, namespace: str | None) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(o) for (r, ns, _), o in sorted(self.objects.items())
                    if r == resource and (namespace is None or ns == namespace)]

    def add_event(self, namespace: str, pod: str, kind: str, reason: str, message: str) -> None:
        name = f"{pod}.{uuid.uuid4().hex[:12]}"
        event = {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"name": name, "namespace": namespace, "creationTimestamp": now()},
                 "involvedObject": {"kind": "Pod", "name": pod, "namespace": namespace,
                                    "apiVersion": "v1"},
                 "reason": reason, "message": message, "type": kind, "count": 1,
                 "firstTimestamp": now(), "lastTimestamp": now(),
                 "source": {"component": "kubelet"}}
        self.put("events", namespace, event, "ADDED")

    # -- the scripted kubelet -----------------------------------------------------------

    def start_pod(self, namespace: str, pod: dict[str, Any]) -> None:
        image = pod["spec"]["containers"][0]["image"]
        script = self.scripts.get(pod["metadata"]["name"]) or self.scripts.get(image) \
            or healthy_script
        steps = script(pod)
        threading.Thread(target=self._play, args=(namespace, pod["metadata"]["name"], steps),
                         daemon=True).start()

    def _play(self, namespace: str, name: str, steps: list[Step]) -> None:
        for step in steps:
            if self.closing.wait(step.after):
                return
            with self.lock:
                current = self.get("pods", namespace, name)
                if current is None:
                    return
                current["status"] = copy.deepcopy(step.status)
                self.put("pods", namespace, current, "MODIFIED")
                for kind, reason, message in step.events:
                    self.add_event(namespace, name, kind, reason, message)
                if step.logs is not None:
                    if step.status.get("containerStatuses", [{}])[0].get("restartCount"):
                        self.previous_logs[(namespace, name)] = step.logs
                        self.logs[(namespace, name)] = "restarted\n"
                    else:
                        self.logs[(namespace, name)] = step.logs

    # -- the scripted Job controller ------------------------------------------------------

    def start_job(self, namespace: str, job: dict[str, Any]) -> None:
        template = job["spec"]["template"]
        name = f"{job['metadata']['name']}-x7k2p"
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()),
                            "creationTimestamp": now(),
                            "labels": {**template["metadata"]["labels"],
                                       "job-name": job["metadata"]["name"]}},
               "spec": copy.deepcopy(template["spec"]), "status": {"phase": "Pending"}}
        self.put("pods", namespace, pod, "ADDED")
        threading.Thread(target=self._play_job, args=(namespace, job, pod), daemon=True).start()

    def _job_pod_status(self, pod: dict[str, Any], runner: dict[str, Any],
                        collector: dict[str, Any], phase: str) -> dict[str, Any]:
        images = {c["name"]: c["image"] for c in pod["spec"]["containers"]}
        return {"phase": phase, "conditions": [cond("PodScheduled", True)],
                "containerStatuses": [
                    container_status("runner", images["runner"], runner),
                    container_status("collector", images["collector"], collector)]}

    def _set(self, resource: str, namespace: str, name: str, **fields: Any) -> None:
        with self.lock:
            current = self.get(resource, namespace, name)
            if current is not None:
                current.update(fields)
                self.put(resource, namespace, current, "MODIFIED")

    def _play_job(self, namespace: str, job: dict[str, Any], pod: dict[str, Any]) -> None:
        name, job_name = pod["metadata"]["name"], job["metadata"]["name"]
        running = {"running": {"startedAt": now()}}
        if self.closing.wait(0.1):
            return
        if self.job_pull_error:
            waiting = {"waiting": {"reason": "ErrImagePull",
                                   "message": "pull access denied for tests"}}
            self._set("pods", namespace, name,
                      status=self._job_pod_status(pod, waiting, waiting, "Pending"))
            return
        self._set("pods", namespace, name,
                  status=self._job_pod_status(pod, running, running, "Running"))
        self._set("jobs", namespace, job_name, status={"active": 1, "startTime": now()})
        if self.closing.wait(0.2):
            return
        if self.job_deadline:
            self._set("jobs", namespace, job_name, status={
                "failed": 1, "startTime": now(), "conditions": [
                    cond("Failed", True, "DeadlineExceeded",
                         "Job was active longer than specified deadline")]})
            return
        done = {"terminated": {"exitCode": self.job_exit_code, "startedAt": now(),
                               "finishedAt": now(),
                               "reason": "Completed" if self.job_exit_code == 0 else "Error"}}
        self._set("pods", namespace, name,
                  status=self._job_pod_status(pod, done, running, "Running"))
        self.logs[(namespace, name)] = "collected 3 items\n3 passed\n"

    def collector_released(self, namespace: str, name: str) -> None:
        pod = self.get("pods", namespace, name)
        if pod is None:
            return
        statuses = pod["status"]["containerStatuses"]
        runner = statuses[0]["state"]
        finished = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now(),
                                   "finishedAt": now()}}
        self._set("pods", namespace, name, status=self._job_pod_status(
            pod, runner, finished, "Succeeded" if self.job_exit_code == 0 else "Failed"))
        job_name = pod["metadata"]["labels"]["job-name"]
        ok = self.job_exit_code == 0
        self._set("jobs", namespace, job_name, status={
            "succeeded" if ok else "failed": 1, "startTime": now(),
            "conditions": [cond("Complete" if ok else "Failed", True,
                                "" if ok else "BackoffLimitExceeded")]})

    def exec(self, namespace: str, pod: str, container: str,
             command: list[str]) -> tuple[bytes, int]:
        """What the collector container would answer to the backend's two commands."""
        self.execs.append((pod, container, command))
        if command[:2] == ["tar", "cf"]:
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as tar:
                for path, data in self.job_files.items():
                    info = tarfile.TarInfo(path)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
            return buffer.getvalue(), 0
        if command[0] == "touch":
            self.collector_released(namespace, pod)
            return b"", 0
        return b"", 127

    def delete_namespace(self, name: str) -> dict[str, Any] | None:
        ns = self.get("namespaces", "", name)
        if ns is None:
            return None
        ns["metadata"]["deletionTimestamp"] = now()
        ns["status"] = {"phase": "Terminating"}
        if name in self.stuck_namespaces:
            ns["spec"] = {"finalizers": ["kubernetes"]}
            ns["status"]["conditions"] = [
                cond("NamespaceContentRemaining", True, "SomeResourcesRemain",
                     "Some resources are remaining: widgets.example.com has 1 resource "
                     "instances"),
                cond("NamespaceFinalizersRemaining", True, "SomeFinalizersRemain",
                     "Some content in the namespace has finalizers remaining: "
                     "example.com/protect in 1 resource instances")]
            self.put("namespaces", "", ns, "MODIFIED")
            return ns
        self.put("namespaces", "", ns, "MODIFIED")

        def finish() -> None:
            with self.lock:
                for (resource, namespace, _name), obj in list(self.objects.items()):
                    if namespace == name:
                        self.put(resource, namespace, obj, "DELETED")
                final = self.get("namespaces", "", name)
                if final is not None:
                    self.put("namespaces", "", final, "DELETED")
        threading.Timer(0.2, finish).start()
        return ns


def _status(code: int, reason: str, message: str, *, kind: str = "",
            name: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Failure", "message": message, "reason": reason,
                            "code": code}
    if kind or name:
        body["details"] = {"name": name, "kind": kind}
    return body


def _matches(obj: dict[str, Any], label_selector: str, field_selector: str) -> bool:
    labels = obj["metadata"].get("labels") or {}
    for term in filter(None, label_selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    for term in filter(None, field_selector.split(",")):
        key, _, value = term.partition("=")
        node: Any = obj
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node != value:
            return False
    return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cluster: Cluster

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    # -- plumbing -----------------------------------------------------------------------

    def _send_json(self, code: int, body: dict[str, Any], check: str | None = None) -> None:
        self._check(body, check)
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _check(self, body: dict[str, Any], special: str | None = None) -> None:
        found = kube_schemas.errors(body, kube_schemas.SERVER_VERSION, special)
        if found:
            self.cluster.schema_errors.append(
                f"{self.command} {self.path}: {body.get('kind')}: {found[:3]}")

    def _fail(self, code: int, reason: str, message: str, **kw: str) -> None:
        self._send_json(code, _status(code, reason, message, **kw))

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else {}

    def _route(self) -> tuple[list[str], dict[str, str]] | None:
        parsed = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query).items()}
        self.cluster.requests.append((self.command, parsed.path))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._fail(401, "Unauthorized", "Unauthorized")
            return None
        return [p for p in parsed.path.split("/") if p], query

    # -- verbs --------------------------------------------------------------------------

    def do_GET(self) -> None:
        routed = self._route()
        if routed is None:
            return
        parts, query = routed
        if parts == ["version"]:
            self._send_json(200, {"major": "1", "minor": "34", "gitVersion": "v1.34.1",
                                  "gitCommit": "fake", "gitTreeState": "clean",
                                  "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24",
                                  "compiler": "gc", "platform": "linux/amd64"}, "Info")
            return
        target = self._target(parts)
        if target is None:
            return
        resource, namespace, name, sub = target
        if sub == "log":
            self._log(namespace, name, query)
            return
        if sub == "portforward":
            self._portforward(namespace, name, query)
            return
        if sub == "exec":
            self._exec(namespace, name)
            return
        if name:
            obj = self.cluster.get(resource, namespace, name)
            if obj is None:
                self._fail(404, "NotFound", f'{resource} "{name}" not found', kind=resource,
                           name=name)
                return
            self._send_json(200, obj)
            return
        if query.get("watch") in ("true", "1"):
            self._watch(resource, namespace or None, query)
            return
        kind, api_version, _ = RESOURCES[resource]
        items = [o for o in self.cluster.items(resource, namespace or None)
                 if _matches(o, query.get("labelSelector", ""), query.get("fieldSelector", ""))]
        with self.cluster.lock:
            rv = str(next(self.cluster.rv))
        self._send_json(200, {"apiVersion": api_version, "kind": f"{kind}List",
                              "metadata": {"resourceVersion": rv}, "items": items})

    def do_POST(self) -> None:
        routed = self._route()
        if routed is None:
            return
        parts, _query = routed
        body = self._body()
        if parts[:3] == ["apis", "authorization.k8s.io", "v1"] and \
                parts[3:] == ["selfsubjectaccessreviews"]:
            attrs = body["spec"]["resourceAttributes"]
            key = (attrs.get("verb", ""), attrs.get("resource", ""),
                   attrs.get("subresource", ""))
            allowed = key not in self.cluster.denied_reviews
            body["status"] = {"allowed": allowed}
            if not allowed:
                body["status"]["reason"] = "no RBAC policy matched"
            body["metadata"] = {"creationTimestamp": None}
            self._send_json(201, body)
            return
        target = self._target(parts)
        if target is None:
            return
        resource, namespace, _name, _sub = target
        if ("POST", resource) in self.cluster.denied_requests:
            self._fail(403, "Forbidden", f'{resource} is forbidden: User "tester" cannot '
                       f'create resource "{resource}" in API group "" in the namespace '
                       f'"{namespace}"', kind=resource)
            return
        errors = kube_schemas.errors(body, kube_schemas.SERVER_VERSION)
        if errors:
            self._fail(422, "Invalid", f"{body.get('kind')} is invalid: {errors[:3]}")
            return
        name = body["metadata"]["name"]
        if namespace and self.cluster.get("namespaces", "", namespace) is None:
            self._fail(404, "NotFound", f'namespaces "{namespace}" not found',
                       kind="namespaces", name=namespace)
            return
        if self.cluster.get(resource, namespace, name) is not None:
            self._fail(409, "AlreadyExists", f'{resource} "{name}" already exists',
                       kind=resource, name=name)
            return
        meta = body["metadata"]
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now())
        if namespace:
            meta["namespace"] = namespace
        if resource == "namespaces":
            body["spec"] = {"finalizers": ["kubernetes"]}
            body["status"] = {"phase": "Active"}
        elif resource == "pods":
            body["status"] = {"phase": "Pending"}
        elif resource == "services":
            body["spec"]["clusterIP"] = "10.96.0.17"
            body["status"] = {"loadBalancer": {}}
        elif resource == "jobs":
            body["status"] = {}
        elif resource == "secrets":
            data = {k: base64.b64encode(v.encode()).decode()
                    for k, v in (body.pop("stringData", None) or {}).items()}
            body["data"] = {**(body.get("data") or {}), **data}
        self.cluster.put(resource, namespace, body, "ADDED")
        if resource == "pods":
            self.cluster.start_pod(namespace, body)
        if resource == "jobs":
            self.cluster.start_job(namespace, body)
        self._send_json(201, self.cluster.get(resource, namespace, name) or body)

    def do_DELETE(self) -> None:
        routed = self._route()
        if routed is None:
            return
        parts, _query = routed
        self._body()
        target = self._target(parts)
        if target is None:
            return
        resource, namespace, name, _sub = target
        if resource == "namespaces":
            ns = self.cluster.delete_namespace(name)
            if ns is None:
                self._fail(404, "NotFound", f'namespaces "{name}" not found',
                           kind="namespaces", name=name)
                return
            self._send_json(200, ns)
            return
        obj = self.cluster.get(resource, namespace, name)
        if obj is None:
            self._fail(404, "NotFound", f'{resource} "{name}" not found', kind=resource,
                       name=name)
            return
        self.cluster.put(resource, namespace, obj, "DELETED")
        self._send_json(200, obj)

    def do_PATCH(self) -> None:
        routed = self._route()
        if routed is None:
            return
        parts, _query = routed
        patch = self._body()
        target = self._target(parts)
        if target is None:
            return
        resource, namespace, name, _sub = target
        obj = self.cluster.get(resource, namespace, name)
        if obj is None:
            self._fail(404, "NotFound", f'{resource} "{name}" not found', kind=resource,
                       name=name)
            return

        def merge(into: dict[str, Any], change: dict[str, Any]) -> None:
            for key, value in change.items():
                if value is None:
                    into.pop(key, None)
                elif isinstance(value, dict) and isinstance(into.get(key), dict):
                    merge(into[key], value)
                else:
                    into[key] = value
        merge(obj, patch)
        self.cluster.put(resource, namespace, obj, "MODIFIED")
        self._send_json(200, obj)

    # -- helpers ------------------------------------------------------------------------

    def _target(self, parts: list[str]) -> tuple[str, str, str, str] | None:
        """``(resource, namespace, name, subresource)`` from an /api or /apis path."""
        if parts[:2] == ["api", "v1"]:
            rest = parts[2:]
        elif parts[:3] == ["apis", "batch", "v1"]:
            rest = parts[3:]
        else:
            self._fail(404, "NotFound", f"the server could not find {self.path}")
            return None
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] in RESOURCES:
            namespace, rest = rest[1], rest[2:]
        if not rest or rest[0] not in RESOURCES:
            self._fail(404, "NotFound", f"the server could not find {self.path}")
            return None
        return rest[0], namespace, (rest[1] if len(rest) > 1 else ""), \
            (rest[2] if len(rest) > 2 else "")

    def _log(self, namespace: str, name: str, query: dict[str, str]) -> None:
        if self.cluster.get("pods", namespace, name) is None:
            self._fail(404, "NotFound", f'pods "{name}" not found', kind="pods", name=name)
            return
        store = self.cluster.previous_logs if query.get("previous") == "true" \
            else self.cluster.logs
        text = store.get((namespace, name))
        if text is None and query.get("previous") == "true":
            self._fail(400, "BadRequest", f'previous terminated container "{name}" in pod '
                       f'"{name}" not found')
            return
        lines = (text or "").splitlines()
        if "tailLines" in query:
            lines = lines[-int(query["tailLines"]):]
        data = "".join(line + "\n" for line in lines).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _watch(self, resource: str, namespace: str | None, query: dict[str, str]) -> None:
        label, fields = query.get("labelSelector", ""), query.get("fieldSelector", "")
        self.cluster.watches.append((resource, label))
        since = int(query.get("resourceVersion") or 0)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        cluster = self.cluster
        if not since:
            with cluster.lock:
                initial = [("ADDED", o) for o in cluster.items(resource, namespace)]
                since = max((rv for rv, *_ in cluster.history), default=0)
        else:
            initial = []
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or 30)
        try:
            pending = list(initial)
            while not cluster.closing.is_set() and time.monotonic() < deadline:
                for kind, obj in pending:
                    if _matches(obj, label, fields):
                        event = {"type": kind, "object": obj}
                        self._check(event, "WatchEvent")
                        self._check(obj)
                        self._chunk(json.dumps(event).encode() + b"\n")
                with cluster.changed:
                    fresh = [h for h in cluster.history if h[0] > since]
                    if not fresh:
                        cluster.changed.wait(timeout=0.2)
                        fresh = [h for h in cluster.history if h[0] > since]
                pending = [(kind, obj) for rv, kind, res, ns, obj in fresh
                           if res == resource and (namespace is None or ns == namespace)]
                if fresh:
                    since = fresh[-1][0]
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            return

    # -- port-forward over WebSocket (the v4 channel protocol kr8s speaks) --------------

    def _portforward(self, namespace: str, name: str, query: dict[str, str]) -> None:
        if ("GET", "pods/portforward") in self.cluster.denied_requests:
            self._fail(403, "Forbidden", "pods/portforward is forbidden")
            return
        port = int(query.get("ports", "0"))
        targets = self.cluster.forward_targets
        target = targets.get((namespace, name, port)) or targets.get(("*", name, port))
        if target is None or self.headers.get("Upgrade", "").lower() != "websocket":
            self._fail(400, "BadRequest", f"cannot forward to {namespace}/{name}:{port}")
            return
        self._upgrade()
        upstream = socket.create_connection(target, timeout=5)
        upstream.settimeout(None)
        send = self._send_frame

        port_bytes = struct.pack("<H", port)
        send(b"\x00" + port_bytes)
        send(b"\x01" + port_bytes)

        def pump_up() -> None:
            try:
                while True:
                    data = upstream.recv(65536)
                    if not data:
                        break
                    send(b"\x00" + data)
            except OSError:
                pass
            with contextlib.suppress(OSError):
                send(struct.pack(">H", 1000), opcode=0x8)

        threading.Thread(target=pump_up, daemon=True).start()
        try:
            while True:
                opcode, payload = self._read_frame()
                if opcode == 0x8 or opcode is None:
                    break
                if opcode == 0x9:
                    send(payload, opcode=0xA)
                elif opcode in (0x1, 0x2) and payload and payload[0] == 0:
                    upstream.sendall(payload[1:])
        except OSError:
            pass
        finally:
            upstream.close()

    def _upgrade(self) -> None:
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        protocols = self.headers.get("Sec-WebSocket-Protocol", "")
        if protocols:
            self.send_header("Sec-WebSocket-Protocol", protocols.split(",")[0].strip())
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        self._ws_lock = threading.Lock()

    def _send_frame(self, payload: bytes, opcode: int = 0x2) -> None:
        head = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            head += bytes([n])
        elif n < 65536:
            head += bytes([126]) + struct.pack(">H", n)
        else:
            head += bytes([127]) + struct.pack(">Q", n)
        with self._ws_lock:
            self.wfile.write(head + payload)
            self.wfile.flush()

    def _exec(self, namespace: str, name: str) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if self.cluster.get("pods", namespace, name) is None:
            self._fail(404, "NotFound", f'pods "{name}" not found', kind="pods", name=name)
            return
        self._upgrade()
        stdout, code = self.cluster.exec(namespace, name, query.get("container", [""])[0],
                                         query.get("command", []))
        if stdout:
            self._send_frame(b"\x01" + stdout)
        if code == 0:
            status = {"metadata": {}, "status": "Success"}
        else:
            status = {"metadata": {}, "status": "Failure", "message": f"exit {code}",
                      "reason": "NonZeroExitCode", "details": {"causes": [
                          {"reason": "ExitCode", "message": str(code)}]}}
        self._send_frame(b"\x03" + json.dumps(status).encode())
        self._send_frame(struct.pack(">H", 1000), opcode=0x8)

    def _read_frame(self) -> tuple[int | None, bytes]:
        head = self.rfile.read(2)
        if len(head) < 2:
            return None, b""
        opcode, n = head[0] & 0x0F, head[1] & 0x7F
        if n == 126:
            n = struct.unpack(">H", self.rfile.read(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self.rfile.read(8))[0]
        mask = self.rfile.read(4) if head[1] & 0x80 else b"\x00\x00\x00\x00"
        data = self.rfile.read(n)
        return opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(data))


class FakeApiServer:
    """Start with ``with FakeApiServer() as api:``; ``api.kubeconfig(path, context)``."""

    def __init__(self) -> None:
        self.cluster = Cluster()
        handler = type("BoundHandler", (Handler,), {"cluster": self.cluster})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeApiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cluster.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def kubeconfig(self, path: Path, contexts: tuple[str, ...] = ("kind-fake",),
                   current: str | None = None) -> Path:
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config",
            "current-context": current or contexts[0],
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": TOKEN}}],
            "contexts": [{"name": c, "context": {"cluster": "fake", "user": "tester"}}
                         for c in contexts],
        }))
        return path


__all__ = ["Cluster", "FakeApiServer", "Step", "crash_script", "healthy_script",
           "unschedulable_script", "waiting_script"]
