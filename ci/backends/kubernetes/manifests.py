"""Kubernetes objects for one run, rendered from the service's compose file.

Users already describe their test stack in ``compose/<service>.yml`` (image,
command, environment, healthcheck); a second description in Kubernetes terms
would drift from it. So each backing service becomes a bare Pod plus a
ClusterIP Service, translated field by field from the compose model, and the
run's Namespace carries everything a later sweep needs to judge it.

Pods, not Deployments: a test server that dies must stay dead and be reported
(``restartPolicy: Never``), not quietly replaced mid-suite.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ci.backends.compose.composefile import ComposeModel, interpolate
from ci.backends.kubernetes import names
from ci.errors import ConfigError
from ci.runinfo import RunInfo
from ci.service import Backing, Service

Manifest = dict[str, Any]

DEFAULT_EXPIRY = dt.timedelta(hours=6)
MAIN_PORT = "main"
_DURATION = re.compile(r"(?P<n>\d+(?:\.\d+)?)(?P<unit>ms|us|ns|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


@dataclass(frozen=True)
class RunMeta:
    """What labels and annotations say about a run (read back by the sweep)."""

    service: str
    run_id: str
    checkout: str
    owner: str
    host: str
    expires: dt.datetime
    extra_labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, run: RunInfo, expiry: dt.timedelta = DEFAULT_EXPIRY) -> RunMeta:
        return cls(service=run.service, run_id=run.id, checkout=str(run.checkout),
                   owner=run.owner, host=socket.gethostname(), expires=run.started + expiry)

    def labels(self) -> dict[str, str]:
        return {
            names.MANAGED_BY: names.MANAGER,
            names.RUN_ID: names.label_value(self.run_id),
            names.SERVICE: names.label_value(self.service),
            names.CHECKOUT: names.checkout_hash(self.checkout),
            **self.extra_labels,
        }

    def annotations(self) -> dict[str, str]:
        return {
            names.OWNER: self.owner,
            names.HOST: self.host,
            names.EXPIRES: self.expires.astimezone(dt.UTC).isoformat(timespec="seconds"),
        }

    @property
    def namespace(self) -> str:
        return names.namespace_name(self.service, self.run_id)


def seconds(value: Any, default: float) -> float:
    """A compose duration (``1s``, ``1m30s``, ``500ms``) or a number, in seconds."""
    if value is None:
        return default
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    parts = list(_DURATION.finditer(text))
    if not parts or "".join(p.group(0) for p in parts) != text:
        raise ConfigError(f"duration {value!r} is not like 1s, 1m30s or 500ms")
    return sum(float(p["n"]) * _UNIT_SECONDS[p["unit"]] for p in parts)


def _whole(value: float, minimum: int = 1) -> int:
    return max(minimum, int(-(-value // 1)))


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    if isinstance(value, list):
        return [str(v) for v in value]
    raise ConfigError(f"{where}: expected a string or a list, got {type(value).__name__}")


def _environment(spec: Mapping[str, Any], environ: Mapping[str, str] | None,
                 where: str) -> list[dict[str, str]]:
    raw = spec.get("environment") or {}
    pairs: list[tuple[str, str]] = []
    if isinstance(raw, dict):
        pairs = [(str(k), "" if v is None else str(v)) for k, v in raw.items()]
    elif isinstance(raw, list):
        for item in raw:
            key, _, value = str(item).partition("=")
            pairs.append((key, value))
    else:
        raise ConfigError(f"{where}: `environment` must be a mapping or a list")
    return [{"name": k, "value": interpolate(v, environ)} for k, v in pairs]


def readiness_probe(healthcheck: Any, port: int, where: str) -> dict[str, Any]:
    """compose ``healthcheck`` → ``readinessProbe``; a TCP check of the port without one."""
    if not isinstance(healthcheck, dict) or healthcheck.get("disable"):
        return {"tcpSocket": {"port": port}, "periodSeconds": 1, "failureThreshold": 600}
    test = healthcheck.get("test")
    if isinstance(test, str):
        command = ["/bin/sh", "-c", test]
    elif isinstance(test, list) and test and test[0] == "CMD":
        command = [str(t) for t in test[1:]]
    elif isinstance(test, list) and len(test) == 2 and test[0] == "CMD-SHELL":
        command = ["/bin/sh", "-c", str(test[1])]
    elif isinstance(test, list) and test == ["NONE"]:
        return {"tcpSocket": {"port": port}, "periodSeconds": 1, "failureThreshold": 600}
    else:
        raise ConfigError(f"{where}: healthcheck `test` {test!r} is not CMD, CMD-SHELL or a string")
    probe: dict[str, Any] = {
        "exec": {"command": command},
        "periodSeconds": _whole(seconds(healthcheck.get("interval"), 30)),
        "timeoutSeconds": _whole(seconds(healthcheck.get("timeout"), 30)),
        # Readiness, unlike Docker's health, may keep failing while the start
        # budget and the wait stage's timeout decide when to give up.
        "failureThreshold": max(1, int(healthcheck.get("retries", 3))),
    }
    start = seconds(healthcheck.get("start_period"), 0)
    if start:
        probe["initialDelaySeconds"] = _whole(start, 0)
    return probe


def _mounts(spec: Mapping[str, Any], where: str) -> list[tuple[str, str]]:
    """``(volume name, mount path)`` for each compose volume/tmpfs: data dies with the Pod."""
    targets: list[str] = []
    for item in spec.get("volumes") or []:
        if isinstance(item, str):
            parts = item.split(":")
            targets.append(parts[1] if len(parts) > 1 else parts[0])
        elif isinstance(item, dict) and item.get("target"):
            targets.append(str(item["target"]))
        else:
            raise ConfigError(f"{where}: cannot read volume entry {item!r}")
    tmpfs = spec.get("tmpfs") or []
    targets += [str(t).split(":")[0] for t in ([tmpfs] if isinstance(tmpfs, str) else tmpfs)]
    return [(f"data-{i}", path) for i, path in enumerate(targets)]


def backing_pod(backing: Backing, spec: Mapping[str, Any], meta: RunMeta,
                environ: Mapping[str, str] | None = None) -> Manifest:
    where = f"compose service {backing.compose_name!r}"
    image = spec.get("image")
    if not isinstance(image, str) or not image:
        raise ConfigError(f"{where} names no `image`; the kubernetes backend cannot build one",
                          hint="build and tag the image, then name it with `image:`")
    port = backing.default_port
    container: dict[str, Any] = {
        "name": names.dns_label(backing.compose_name),
        "image": interpolate(image, environ),
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": MAIN_PORT, "containerPort": port, "protocol": "TCP"}],
        "readinessProbe": readiness_probe(spec.get("healthcheck"), port, where),
    }
    if spec.get("entrypoint") is not None:
        container["command"] = [interpolate(a, environ)
                                for a in _strings(spec["entrypoint"], f"{where} entrypoint")]
    if spec.get("command") is not None:
        container["args"] = [interpolate(a, environ)
                             for a in _strings(spec["command"], f"{where} command")]
    env = _environment(spec, environ, where)
    if env:
        container["env"] = env
    mounts = _mounts(spec, where)
    if mounts:
        container["volumeMounts"] = [{"name": n, "mountPath": p} for n, p in mounts]
    if spec.get("working_dir"):
        container["workingDir"] = str(spec["working_dir"])
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 5,
        "containers": [container],
    }
    if mounts:
        pod_spec["volumes"] = [{"name": n, "emptyDir": {}} for n, _ in mounts]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": names.dns_label(backing.name),
            "namespace": meta.namespace,
            "labels": {**meta.labels(), names.BACKING: names.label_value(backing.name),
                       names.ROLE: "backing"},
        },
        "spec": pod_spec,
    }


def backing_service(backing: Backing, meta: RunMeta) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": names.dns_label(backing.name), "namespace": meta.namespace,
                     "labels": {**meta.labels(), names.BACKING: names.label_value(backing.name)}},
        "spec": {
            "type": "ClusterIP",
            "selector": {names.RUN_ID: names.label_value(meta.run_id),
                         names.BACKING: names.label_value(backing.name)},
            "ports": [{"name": MAIN_PORT, "port": backing.default_port,
                       "targetPort": MAIN_PORT, "protocol": "TCP"}],
        },
    }


def namespace(meta: RunMeta) -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": meta.namespace, "labels": meta.labels(),
                         "annotations": meta.annotations()}}


def compose_spec(model: ComposeModel, backing: Backing) -> dict[str, Any]:
    try:
        return model.services[backing.compose_name]
    except KeyError:
        raise ConfigError(
            f"{model.path.name} has no service {backing.compose_name!r} for backend "
            f"{backing.name!r}", hint=f"services there: {', '.join(model.services)}") from None


def host_mode(service: Service, model: ComposeModel, meta: RunMeta,
              environ: Mapping[str, str] | None = None) -> list[Manifest]:
    """Everything host mode applies, in apply order: the namespace first."""
    out = [namespace(meta)]
    for backing in service.backends:
        out.append(backing_pod(backing, compose_spec(model, backing), meta, environ))
        out.append(backing_service(backing, meta))
    return out


def check_names(service: Service) -> None:
    """Two backends whose names map to one DNS label would overwrite each other."""
    seen: dict[str, str] = {}
    for backing in service.backends:
        label = names.dns_label(backing.name)
        if label in seen:
            raise ConfigError(f"backends {seen[label]!r} and {backing.name!r} both become "
                              f"the Kubernetes name {label!r}", hint="rename one of them")
        seen[label] = backing.name
