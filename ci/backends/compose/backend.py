"""``--backend compose``: the service's compose file, one isolated project per run.

Every run gets its own project (``<service>-<run id>``), labels on everything it
creates, and dynamic host ports read back after ``up``; so two runs of one
service at once never collide, and a run killed with SIGKILL is swept by the
next. The compose CLI starts and stops the project; the Docker SDK answers
every question about it (state, health, exit codes, logs, ports).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from ci import keep as kept
from ci.backends.base import Backend
from ci.backends.compose import composefile, diagnostics, health, images, ports, sweep
from ci.backends.compose.cli import ONEOFF_LABEL, PROJECT_LABEL, SERVICE_LABEL, ComposeCLI, detect
from ci.backends.compose.dockerclient import client as docker_client
from ci.endpoints import Endpoint
from ci.errors import BackendDied, ConfigError, InfraError, TiersError
from ci.masking import redact
from ci.service import Backing

UP_TIMEOUT = 600.0
"""Seconds ``compose up -d`` may take (it only creates and starts containers)."""


class ComposeBackend(Backend):
    name = "compose"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = sweep.project_name(self.service.name, self.run.id)
        self.compose_file = self.service.compose_path
        self._cli: ComposeCLI | None = None
        self._docker: Any = None
        self._tmp: Path | None = None
        self._override: Path | None = None
        self._endpoints: dict[str, Endpoint] = {}
        self._started = False
        self._output: list[str] = []
        """Everything the compose CLI printed, for logs/compose.log."""

    # -- plumbing ----------------------------------------------------------------
    @property
    def cli(self) -> ComposeCLI:
        if self._cli is None:
            self._cli = detect()
        return self._cli

    @property
    def docker(self) -> Any:
        if self._docker is None:
            self._docker = docker_client()
        return self._docker

    def describe(self) -> str:
        try:
            how = self.cli.describe()
        except InfraError:
            how = "no compose CLI found"
        return f"compose ({how}; project {self.project}, file {self._rel(self.compose_file)})"

    def _rel(self, path: Path) -> str:
        with contextlib.suppress(ValueError):
            return str(path.relative_to(self.service.repo_root))
        return str(path)

    def _files(self) -> list[Path]:
        return [self.compose_file, *([self._override] if self._override else [])]

    def _compose(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        self._output.append(f"$ {' '.join(argv)}")
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                  cwd=self.service.repo_root, check=False)
        except subprocess.TimeoutExpired as exc:
            raise InfraError(f"`{' '.join(argv[:3])} ...` did not finish in {timeout:g}s") from exc
        self._output.append((proc.stdout + proc.stderr).rstrip())
        return proc

    def _containers(self, service_name: str | None = None) -> list[Any]:
        labels = [f"{PROJECT_LABEL}={self.project}", f"{sweep.RUN_LABEL}={self.run.id}"]
        if service_name is not None:
            labels.append(f"{SERVICE_LABEL}={service_name}")
        found = self.docker.containers.list(all=True, filters={"label": labels})
        return [c for c in found if c.labels.get(ONEOFF_LABEL, "False") != "True"]

    def _container(self, backing: Backing) -> Any:
        found = self._containers(backing.compose_name)
        if not found:
            raise BackendDied(
                f"compose project {self.project} has no container for service "
                f"{backing.compose_name!r}")
        return found[0]

    # -- sweep -------------------------------------------------------------------
    def sweep(self) -> list[str]:
        return sweep.sweep(self.docker, self.service.repo_root)

    # -- up ----------------------------------------------------------------------
    def configure(self, options: Any) -> None:
        """Check the file and its pinned ports now: found here, a mistake is exit 2."""
        model = self._model()
        for service_name, host, port in ports.pinned(model):
            if ports.in_use(host, port):
                holder = ports.port_holder(port, self._docker_or_none()) or (
                    "a process this user cannot see")
                raise ConfigError(
                    f"{self._rel(self.compose_file)}: service {service_name!r} pins host port "
                    f"{port}, which is already in use by {holder}",
                    hint="stop that process, or publish the container port alone "
                         "(e.g. \"5432\") to get a free port; nothing was started")

    def _docker_or_none(self) -> Any:
        try:
            return self.docker
        except Exception:
            return None

    def _model(self) -> composefile.ComposeModel:
        model = composefile.load(self.compose_file)
        missing = [name for b in self.service.backends for name in b.kind.compose_services(b)
                   if name not in model.services]
        if missing:
            raise ConfigError(
                f"{self._rel(self.compose_file)} has no service {', '.join(map(repr, missing))}",
                hint=f"its services: {', '.join(model.services)}; name them after the "
                     "backends, or set compose_service= on the backend")
        return model

    def up(self) -> None:
        model = self._model()
        images.ensure_images(self.compose_file, self.console)
        self._tmp = Path(tempfile.mkdtemp(prefix=f"tiers-compose-{self.run.id}-"))
        extra: dict[str, dict[str, Any]] = {}
        for backing in self.service.backends:  # what the declaration decides (topologies)
            extra.update(backing.kind.compose_override(backing, self._tmp))
        self._override = sweep.write_override(model, self.run, self._tmp, extra)
        self._started = True  # from here on, down() has something to remove
        started = time.monotonic()
        proc = self._compose(self.cli.up(self.project, self._files()), UP_TIMEOUT)
        if proc.returncode != 0:
            raise self._up_error(proc.stdout + proc.stderr)
        self.console.info(f"  compose up -d: project {self.project} "
                          f"in {time.monotonic() - started:.1f}s")

    def _up_error(self, output: str) -> InfraError:
        tail = redact("\n".join(output.strip().splitlines()[-12:]))
        port = ports.conflicting_port(output)
        if port is not None:
            holder = ports.port_holder(port, self.docker) or "a process this user cannot see"
            return InfraError(
                f"compose up failed: host port {port} is already in use by {holder}",
                hint=f"{self._rel(self.compose_file)} pins port {port}: stop that process, or "
                     "publish the container port alone (e.g. \"5432\") to get a free port")
        return InfraError(f"`{' '.join(self.cli.argv0)} up` failed for project {self.project}:"
                          f"\n{tail}", hint=f"check {self._rel(self.compose_file)}")

    # -- while running -----------------------------------------------------------
    def endpoint(self, backing: Backing) -> Endpoint:
        cached = self._endpoints.get(backing.name)
        if cached is not None:
            return cached
        container = self._container(backing)
        container.reload()
        found = ports.published(container, backing.default_port)
        if found is None:
            if container.status != "running":
                raise BackendDied(f"container {container.name} is {container.status}")
            publishes = ports.published_ports(container)
            raise ConfigError(
                f"{self._rel(self.compose_file)}: service {backing.compose_name!r} publishes no "
                f"host port for container port {backing.default_port}"
                + (f" (it publishes {publishes})" if publishes else ""),
                hint=f'add `ports: ["127.0.0.1:0:{backing.default_port}"]` to the service')
        host, port = found
        if backing.port is not None and port != backing.port:
            raise ConfigError(
                f"backend {backing.name!r} pins port {backing.port} but the compose file "
                f"publishes it on {port}",
                hint="pin the same port in the compose file, or drop port= from the backend")
        nodes, peers = self._nodes(backing)
        endpoint = backing.endpoint(host, port, nodes=nodes, peers=peers)
        self._endpoints[backing.name] = endpoint
        return endpoint

    def _nodes(self, backing: Backing) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """A topology's nodes as the host reaches them (published ports) and as
        they reach one another (container address, container port)."""
        nodes: list[str] = []
        peers: list[str] = []
        for name in backing.kind.compose_nodes(backing):
            [container, *_] = self._containers(name) or [None]
            if container is None:
                raise BackendDied(f"compose project {self.project} has no container for "
                                  f"service {name!r}")
            container.reload()
            found = ports.published(container, backing.default_port)
            if found is None:
                raise ConfigError(
                    f"{self._rel(self.compose_file)}: service {name!r} publishes no host port "
                    f"for container port {backing.default_port}",
                    hint=f'add `ports: ["127.0.0.1:0:{backing.default_port}"]` to it')
            nodes.append(f"{found[0]}:{found[1]}")
            networks = container.attrs.get("NetworkSettings", {}).get("Networks") or {}
            ip = next((n.get("IPAddress") for n in networks.values() if n.get("IPAddress")), "")
            peers.append(f"{ip}:{backing.default_port}")
        return tuple(nodes), tuple(peers)

    def check_alive(self, backing: Backing) -> None:
        # No log tail in the message: the engine's wait appends log_tail() itself.
        health.check_alive(self._container(backing), backing.name, tail_lines=0)
        for name in backing.kind.compose_services(backing)[1:]:  # a topology's other nodes
            for container in self._containers(name):
                health.check_alive(container, f"{backing.name} ({name})", tail_lines=0)

    def native_ready(self, backing: Backing) -> bool:
        return health.native_ready(self._container(backing))

    def log_tail(self, backing: Backing, lines: int = 20) -> str:
        try:
            container = self._container(backing)
        except (BackendDied, InfraError):
            return ""
        text = health.logs(container, lines)
        detail = health.health_detail(container)
        return text + (f"\n[{detail}]" if detail and not health.native_ready(container) else "")

    # -- collect ----------------------------------------------------------------
    def collect(self, logs_dir: Path, *, failed: bool) -> list[Path]:
        logs_dir.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        if not self._started:
            return written
        try:
            containers = self._containers()
        except InfraError:
            containers = []
        names = {b.compose_name: b.name for b in self.service.backends}
        for container in containers:
            service_name = container.labels.get(SERVICE_LABEL, container.name)
            target = logs_dir / f"{names.get(service_name, service_name)}.log"
            try:
                data = container.logs(stdout=True, stderr=True, timestamps=True)
            except Exception as exc:
                data = f"could not read logs: {exc}\n".encode()
            target.write_text(redact(data.decode("utf-8", "replace")), encoding="utf-8")
            written.append(target)
        compose_log = logs_dir / "compose.log"
        compose_log.write_text(redact("\n".join(self._output) + "\n"), encoding="utf-8")
        written.append(compose_log)
        if failed:
            written += diagnostics.save(logs_dir, containers,
                                        self.cli.ps(self.project, self._files()))
        return written

    # -- teardown ---------------------------------------------------------------
    def down(self) -> None:
        if self._started:
            self._remove_project(self.project, self._files(), self.run.id)
        self._started = False
        self._endpoints.clear()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = self._override = None

    def _remove_project(self, project: str, files: list[Path], run_id: str) -> list[str]:
        """``down -v --remove-orphans``, then remove by label whatever it could not.

        The CLI can fail where the SDK cannot (a compose file broken after
        ``up``, a daemon hiccup), and nothing of this run may be left behind.
        """
        proc = self._compose(self.cli.down(project, [f for f in files if f.exists()]), 300)
        if proc.returncode != 0:
            self.console.warn(f"compose down exited {proc.returncode}; removing by label")
        removed = sweep.sweep(self.docker, self.service.repo_root, alive=lambda _o: False,
                              only_runs=[run_id], include_kept=True)
        for line in removed:
            self.console.info(f"  removed leftover {line}")
        return removed

    def keep(self) -> str:
        command = self.cli.manual_down(self.project, self.compose_file)
        endpoints: dict[str, Endpoint] = {}
        for backing in self.service.backends:
            with contextlib.suppress(TiersError):
                endpoints[backing.name] = self.endpoint(backing)
        kept.save(self.service.repo_root, kept.KeptRun(
            run_id=self.run.id, service=self.service.name, backend=self.name,
            endpoints=endpoints, down=command,
            details={"project": self.project, "compose_file": str(self.compose_file)}))
        self._started = False  # down() must now leave the project running
        return command

    def release(self, run_id: str) -> list[str]:
        """Tear down a kept run of this checkout (``tier3.py --down RUN_ID``)."""
        state = kept.load(self.service.repo_root, run_id)
        details = state.details if state else {}
        project = details.get("project") or sweep.project_name(self.service.name, run_id)
        compose_file = Path(details.get("compose_file") or self.compose_file)
        removed = self._remove_project(project, [compose_file], run_id)
        return [f"compose project {project}", *removed]
