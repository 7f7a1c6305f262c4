"""Pinned host ports checked before ``up``, published ports after it, and who holds a port.

Ports are read from the container (``NetworkSettings.Ports``) rather than from
``compose port``, whose output differs between v1 and v2 and costs a process
per call. When a pinned port is taken, the daemon's error names the port; the
holder is looked up among containers (docker-proxy owns published ports, which
says nothing useful), then with ``ss -ltnp`` (process name and pid), then in
``/proc`` (socket inode -> process) where ``ss`` is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from ci.backends.compose.composefile import ComposeModel, interpolate
from ci.ports import port_holder as proc_port_holder

_PORT_ERRORS = (
    re.compile(r"Bind for \S*?:(\d+) failed: port is already allocated"),
    re.compile(r"listen tcp[46]? \S*?:(\d+): bind: address already in use"),
    re.compile(r":(\d+): bind: address already in use"),
)


def docker_host() -> str:
    """Where published ports are reachable: the daemon's host, loopback for a local socket."""
    url = os.environ.get("DOCKER_HOST", "")
    if url.startswith(("tcp://", "ssh://", "http://", "https://")):
        return urlparse(url).hostname or "127.0.0.1"
    return "127.0.0.1"


def published(container: Any, container_port: int) -> tuple[str, int] | None:
    """The host address of ``container_port/tcp``, preferring an IPv4 binding."""
    ports = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
    bindings = ports.get(f"{container_port}/tcp") or []
    bindings = sorted(bindings, key=lambda b: ":" in (b.get("HostIp") or ""))
    for binding in bindings:
        port = binding.get("HostPort")
        if not port:
            continue
        ip = binding.get("HostIp") or ""
        host = docker_host() if ip in ("", "0.0.0.0", "::") else ip
        return host, int(port)
    return None


def published_ports(container: Any) -> list[int]:
    """Every container port that has a host binding (for 'publishes X, Y' messages)."""
    ports = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
    return sorted(int(key.split("/")[0]) for key, bindings in ports.items() if bindings)


def conflicting_port(output: str) -> int | None:
    """The host port named in a bind failure from the daemon, if any."""
    for pattern in _PORT_ERRORS:
        match = pattern.search(output)
        if match:
            return int(match.group(1))
    return None


# -- ports a compose file pins -------------------------------------------------------
def pinned(model: ComposeModel, environ: Mapping[str, str] | None = None
           ) -> list[tuple[str, str, int]]:
    """(service, host address, port) for every fixed host port the file publishes."""
    found: list[tuple[str, str, int]] = []
    for name, spec in model.services.items():
        for entry in spec.get("ports") or []:
            host, published = "0.0.0.0", ""
            if isinstance(entry, dict):
                host = str(entry.get("host_ip") or host)
                published = str(entry.get("published") or "")
            else:
                parts = interpolate(str(entry), environ).rsplit(":", 2)
                if len(parts) == 3:
                    host, published = parts[0] or host, parts[1]
                elif len(parts) == 2:
                    published = parts[0]
            if published.isdigit() and int(published) != 0:
                found.append((name, host.strip("[]"), int(published)))
    return found


def in_use(host: str, port: int) -> bool:
    """Whether a listener holds ``host:port`` (a bind test; TIME_WAIT does not count)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except PermissionError:
            return False  # a privileged port: up will say what it needs
        except OSError:
            return True
    return False


# -- who holds a port ------------------------------------------------------------
def holder_from_ss(port: int) -> str | None:
    if shutil.which("ss") is None:
        return None
    try:
        out = subprocess.run(["ss", "-H", "-ltnp", f"sport = :{port}"], capture_output=True,
                             text=True, timeout=5, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'users:\(\("([^"]+)",pid=(\d+)', out)
    if match:
        return f"pid {match.group(2)} ({match.group(1)})"
    return None


def holder_container(cli: Any, port: int) -> str | None:
    """A container publishing ``port`` on the host (the daemon's proxy holds it for it)."""
    try:
        containers = cli.containers.list()
    except Exception:
        return None
    for container in containers:
        ports = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
        for bindings in ports.values():
            for binding in bindings or []:
                if binding.get("HostPort") == str(port):
                    project = container.labels.get("com.docker.compose.project")
                    where = f", compose project {project}" if project else ""
                    return f"container {container.name}{where}"
    return None


def port_holder(port: int, cli: Any = None) -> str | None:
    """Who holds ``port``: a container, else a process; None if it cannot tell."""
    if cli is not None:
        found = holder_container(cli, port)
        if found:
            return found
    found = holder_from_ss(port)
    if found:
        return found
    return proc_port_holder(port)
