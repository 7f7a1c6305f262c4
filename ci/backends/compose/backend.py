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
import threading
import time
from pathlib import Path
from typing import Any

from ci import keep as kept
from ci.backends.base import Backend
from ci.backends.compose import (
    composefile,
    dbcache,
    diagnostics,
    health,
    images,
    ports,
    sweep,
    teardown,
)
from ci.backends.compose.cli import (
    ONEOFF_LABEL,
    PROJECT_LABEL,
    SERVICE_LABEL,
    STOP_TIMEOUT,
    ComposeCLI,
    detect,
)
from ci.backends.compose.dockerclient import client as docker_client
from ci.endpoints import Endpoint
from ci.errors import BackendDied, ConfigError, InfraError, TiersError
from ci.masking import redact
from ci.service import Backing

UP_TIMEOUT = 600.0
"""Seconds ``compose up -d`` may take (it only creates and starts containers)."""
EARLY_CHECK_EVERY = 0.2
"""Seconds between runs of a container's healthcheck before Docker's first verdict."""


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
        self._lock = threading.Lock()
        self._client_lock = threading.Lock()
        self._ids: dict[str, str] = {}
        """compose service -> container id, filled on first use after ``up``."""
        self._no_cache = False
        self._rebuild = False
        """--no-cache: replace this backing's cache image after migrate."""
        self._early_checks: dict[str, float] = {}
        self._early_ok: set[str] = set()
        self._cache_keys: dict[str, dbcache.CacheKey] = {}
        self._cache_hits: dict[str, str] = {}
        """backing -> migrations digest its cached image already holds."""

    # -- plumbing ----------------------------------------------------------------
    @property
    def cli(self) -> ComposeCLI:
        if self._cli is None:
            self._cli = detect()
        return self._cli

    @property
    def docker(self) -> Any:
        """One SDK client for the run, shared by the wait's threads and the watchdog."""
        if self._docker is None:
            with self._client_lock:
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
        """SDK container objects of this run (for collect, which reads their logs)."""
        import docker.errors

        found = []
        for entry in self._entries(service_name):
            with contextlib.suppress(docker.errors.NotFound):
                found.append(self.docker.containers.get(entry["Id"]))
        return found

    def _entries(self, service_name: str | None = None) -> list[dict[str, Any]]:
        labels = [f"{PROJECT_LABEL}={self.project}", f"{sweep.RUN_LABEL}={self.run.id}"]
        if service_name is not None:
            labels.append(f"{SERVICE_LABEL}={service_name}")
        found = sweep.list_containers(self.docker, labels)
        return [c for c in found
                if (c.get("Labels") or {}).get(ONEOFF_LABEL, "False") != "True"]

    def _container(self, backing: Backing) -> Any:
        """The backing's container, as an SDK object whose ``reload()`` is one inspect.

        Its id is looked up once (one list call) and remembered, so the wait's
        and the watchdog's polling cost one API call per check; safe to call
        from several threads at once.
        """
        with self._lock:
            cid = self._ids.get(backing.compose_name)
        if cid is None:
            found = self._entries(backing.compose_name)
            if not found:
                raise BackendDied(
                    f"compose project {self.project} has no container for service "
                    f"{backing.compose_name!r}")
            cid = str(found[0]["Id"])
            with self._lock:
                self._ids[backing.compose_name] = cid
        from docker.models.containers import Container

        return Container(attrs={"Id": cid, "Name": f"/{backing.compose_name}"},
                         client=self.docker, collection=self.docker.containers)

    # -- sweep -------------------------------------------------------------------
    def sweep(self) -> list[str]:
        return sweep.sweep(self.docker, self.service.repo_root)

    # -- up ----------------------------------------------------------------------
    def preflight(self) -> None:
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
        extra = self._postgres_extras(model)
        self._tmp = Path(tempfile.mkdtemp(prefix=f"{sweep.TEMP_PREFIX}{self.run.id}-"))
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

    # -- PostgreSQL settings and the migrated-database cache ----------------------
    def configure(self, options: Any) -> None:
        self._no_cache = bool(getattr(options, "no_cache", False))

    def _postgres_extras(self, model: composefile.ComposeModel) -> dict[str, dict[str, Any]]:
        """Override keys per service: what the declaration says the container needs
        (credentials), and for postgres its test settings, PGDATA and a cached image."""
        extra: dict[str, dict[str, Any]] = {}
        target = getattr(self.service, "migration_target", None)
        for backing in self.service.backends:
            spec = model.services[backing.compose_name]
            env = backing.kind.container_env()
            keys: dict[str, Any] = {"environment": env} if env else {}
            if not backing.kind.takes_migrations:  # the migrated-database cache is postgres'
                if keys:
                    extra[backing.compose_name] = keys
                continue
            command = dbcache.test_command(spec, backing.kind.server_args())
            if command:
                keys["command"] = command
            if target is not None and target.name == backing.name:
                # The declared credentials shape the cached cluster: part of its key.
                declared = {**dbcache.environment_of(spec), **keys.get("environment", {})}
                plan = self._cache_plan(backing, {**spec, "environment": declared}, command,
                                        model)
                env = {**keys.get("environment", {}), **plan.pop("environment", {})}
                keys.update(plan)
                if env:
                    keys["environment"] = env
            if keys:
                extra[backing.compose_name] = keys
        return extra

    def _cache_plan(self, backing: Backing, spec: dict[str, Any], command: list[str] | None,
                    model: composefile.ComposeModel) -> dict[str, Any]:
        from ci.tier3.migrations import digest

        name = backing.name
        why = dbcache.why_not_cacheable(spec)
        image_ref = model.images().get(backing.compose_name)
        folder = getattr(self.service, "migrations_dir", None)
        if why is None and (image_ref is None or folder is None):
            why = "the service builds its image" if image_ref is None else "no migrations"
        if why is not None:
            self.console.info(f"  migrated-database cache: not used for {name}: {why}")
            return {}
        assert image_ref is not None and folder is not None
        key = dbcache.make_key(self.docker, self.service.name, name, image_ref, spec, command,
                               digest(folder))
        self._cache_keys[name] = key
        hit, others = dbcache.find(self.docker, key)
        if self._no_cache or dbcache.no_cache_requested():
            self._rebuild = True
        if hit is not None and self._rebuild:
            self.console.info(f"  migrated-database cache: not used for {name} "
                              f"(--no-cache / {dbcache.NO_CACHE_ENV}=1); rebuilt after migrate")
        elif hit is not None:
            self._cache_hits[name] = key.migrations
            created = str(hit.attrs.get("Created", ""))[:19].replace("T", " ")
            self.console.info(f"  migrated-database cache: {name} starts from "
                              f"{key.reference} (built {created} UTC), schema already in place")
            # As the image's unprivileged user: an entrypoint running as root
            # chowns the data directory, which on an overlay filesystem copies
            # every file of the cached cluster up into the new container first.
            keys: dict[str, Any] = {"environment": {"PGDATA": dbcache.PGDATA},
                                    "image": key.reference}
            if "user" not in spec:
                keys["user"] = dbcache.SERVER_USER
            return keys
        elif others:
            labels = others[0].labels or {}
            self.console.info(f"  migrated-database cache for {name} invalidated: "
                              f"{key.changes(labels)}; rebuilt after migrate")
        else:
            self.console.info(f"  migrated-database cache: none yet for {name}; "
                              "built after migrate")
        return {"environment": {"PGDATA": dbcache.PGDATA}}

    def cached_migrations(self, backing: Backing) -> str | None:
        return self._cache_hits.get(backing.name)

    def migrated(self, backing: Backing, digest: str) -> None:
        key = self._cache_keys.get(backing.name)
        if key is None or backing.name in self._cache_hits:
            return
        if digest != key.migrations:
            self.console.info(f"  migrated-database cache: not built for {backing.name}: the "
                              "migrations changed while the run started")
            return
        try:
            dbcache.checkpoint(self.endpoint(backing))
            reference, seconds, saved = dbcache.commit(
                self.docker, self._container(backing), key, replace=self._rebuild)
            pruned = dbcache.prune_superseded(self.docker, key)
        except Exception as exc:  # a cache is an optimisation: say so and go on
            self.console.warn(f"  migrated-database cache: could not save {backing.name}: {exc}")
            return
        if saved:
            self.console.info(f"  migrated-database cache: saved {backing.name} as {reference} "
                              f"in {seconds:.1f}s; the next runs start from it")
        else:
            self.console.info(f"  migrated-database cache: {reference} was saved by another "
                              "run meanwhile; kept that one")
        for line in pruned:
            self.console.info(f"  migrated-database cache: removed superseded image {line}")

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
        container = self._reloaded(backing)
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
        with self._lock:
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

    def _reloaded(self, backing: Backing) -> Any:
        """The container with its current inspect state (one API call once its id is known)."""
        import docker.errors

        container = self._container(backing)
        try:
            container.reload()
        except docker.errors.NotFound:
            with self._lock:
                self._ids.pop(backing.compose_name, None)
            raise BackendDied(f"the container of {backing.compose_name!r} was removed "
                              f"(compose project {self.project})") from None
        return container

    def check_alive(self, backing: Backing) -> None:
        # No log tail in the message: the engine's wait appends log_tail() itself.
        health.check_alive(self._reloaded(backing), backing.name, tail_lines=0, reload=False)
        for name in backing.kind.compose_services(backing)[1:]:  # a topology's other nodes
            for container in self._containers(name):
                health.check_alive(container, f"{backing.name} ({name})", tail_lines=0)

    def native_ready(self, backing: Backing) -> bool:
        """Docker's healthcheck verdict; while it is still ``starting``, the same check run now.

        The early check runs at most every :data:`EARLY_CHECK_EVERY` seconds per
        container (each is a process in the container); once it passed, the
        answer stays yes while Docker still says ``starting`` (only ``unhealthy``
        takes it back), so two callers cannot get two verdicts.
        """
        container = self._reloaded(backing)
        if health.native_ready(container, reload=False):
            return True
        if not health.starting(container):
            self._early_ok.discard(backing.name)
            return False
        now = time.monotonic()
        with self._lock:
            if backing.name in self._early_ok:
                return True
            if now - self._early_checks.get(backing.name, -1e9) < EARLY_CHECK_EVERY:
                return False
            self._early_checks[backing.name] = now
        ok = health.run_healthcheck(self.docker, container)
        if ok:
            with self._lock:
                self._early_ok.add(backing.name)
        return ok

    def log_tail(self, backing: Backing, lines: int = 20) -> str:
        try:
            container = self._reloaded(backing)
        except (BackendDied, InfraError):
            return ""
        text = health.logs(container, lines)
        detail = health.health_detail(container)
        ready = health.native_ready(container, reload=False)
        return text + (f"\n[{detail}]" if detail and not ready else "")

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
        try:
            if self._started:
                self._remove_project(self.project, self._files(), self.run.id)
            self._started = False
        finally:
            with self._lock:
                self._endpoints.clear()
                self._ids.clear()
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)
                self._tmp = self._override = None

    def _remove_project(self, project: str, files: list[Path], run_id: str) -> list[str]:
        """Kill and remove everything of the run through the SDK; check by label it is gone.

        If the SDK path fails or leaves something, ``compose down -v`` and a
        removal by label follow: nothing of this run may be left behind.
        """
        started = time.monotonic()
        removed: list[str] = []
        try:
            result = teardown.remove_run(self.docker, project, run_id)
            removed = result.removed
            for line in result.slow:
                self.console.warn(f"  {line}")
            left = sweep.leftovers(self.docker, self.service.repo_root, run_id)
            if not left:
                kinds = [line.split()[0] for line in removed]
                counted = ", ".join(f"{kinds.count(k)} {k}{'s' if kinds.count(k) > 1 else ''}"
                                    for k in ("container", "network", "volume") if k in kinds)
                self.console.info(f"  removed {counted or 'nothing (already gone)'} of project "
                                  f"{project} in {time.monotonic() - started:.2f}s")
                return removed
            self.console.warn(f"  still there after removal: {', '.join(left)}; "
                              "trying compose down")
        except Exception as exc:
            self.console.warn(f"  removal through the Docker SDK failed ({exc}); "
                              "trying compose down")
        return removed + self._remove_with_cli(project, files, run_id)

    def _remove_with_cli(self, project: str, files: list[Path], run_id: str) -> list[str]:
        self.console.warn(f"  compose down gives each container up to {STOP_TIMEOUT}s to stop "
                          "after its stop signal")
        proc = self._compose(self.cli.down(project, [f for f in files if f.exists()]), 300)
        if proc.returncode != 0:
            self.console.warn(f"compose down exited {proc.returncode}; removing by label")
        removed = sweep.sweep(self.docker, self.service.repo_root, alive=lambda _o: False,
                              only_runs=[run_id], include_kept=True)
        for line in removed:
            self.console.info(f"  removed leftover {line}")
        left = sweep.leftovers(self.docker, self.service.repo_root, run_id)
        if left:
            raise InfraError(f"could not remove {', '.join(left)} (run {run_id})",
                             hint="remove them with `docker rm -f` / `docker network rm` / "
                                  "`docker volume rm`, and check the daemon's log")
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
        removed += sweep.remove_temp_dirs(run_id)
        return [f"compose project {project}", *removed]
