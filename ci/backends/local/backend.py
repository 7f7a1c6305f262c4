"""``--backend local``: every backing service as a child process on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from ci import keep as kept
from ci.backends.base import Backend
from ci.backends.local import binaries, servers
from ci.backends.local.processes import Child, kill_all, stop, tagged_processes
from ci.endpoints import Endpoint
from ci.errors import BackendDied, InfraError
from ci.masking import redact
from ci.ports import free_port, port_holder, port_is_free
from ci.runinfo import owner_alive
from ci.service import Backing

HOST = "127.0.0.1"
OWNER_FILE = "tiers-owner.json"


class LocalBackend(Backend):
    name = "local"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._children: dict[str, Child] = {}
        self._workdirs: dict[str, Path] = {}
        self._ports: dict[str, int] = {}

    # -- sweep ---------------------------------------------------------------
    def _orphaned(self, run_id: str, owner: str, checkout: str) -> bool:
        return (
            checkout == str(self.run.checkout)
            and run_id != self.run.id
            and not owner_alive(owner)
            and not kept.is_kept(self.run.checkout, run_id)
        )

    def sweep(self) -> list[str]:
        removed: list[str] = []
        stale = [p for p in tagged_processes() if self._orphaned(p.run_id, p.owner, p.checkout)]
        if stale:
            kill_all([p.pid for p in stale])
            removed += [f"process {p.pid} of run {p.run_id}: {p.command[:80]}" for p in stale]
        removed += self._sweep_dirs(lambda run_id, owner, checkout: self._orphaned(
            run_id, owner, checkout))
        return removed

    def _sweep_dirs(self, should_remove: object) -> list[str]:
        removed: list[str] = []
        for path in Path(tempfile.gettempdir()).glob("tiers-*"):
            marker = path / OWNER_FILE
            try:
                info = json.loads(marker.read_text())
            except (OSError, ValueError):
                continue
            if should_remove(info["run_id"], info["owner"], info["checkout"]):  # type: ignore[operator]
                shutil.rmtree(path, ignore_errors=True)
                removed.append(f"temp dir {path} of run {info['run_id']}")
        return removed

    def release(self, run_id: str) -> list[str]:
        """Tear down a kept run of this checkout (``--down RUN_ID``)."""
        mine = [p for p in tagged_processes()
                if p.run_id == run_id and p.checkout == str(self.run.checkout)]
        kill_all([p.pid for p in mine])
        removed = [f"process {p.pid}: {p.command[:80]}" for p in mine]
        removed += self._sweep_dirs(lambda rid, _o, checkout: rid == run_id
                                    and checkout == str(self.run.checkout))
        kept.forget(self.run.checkout, run_id)
        return removed

    # -- up ----------------------------------------------------------------
    def _port_for(self, backing: Backing) -> int:
        if backing.port is None:
            return free_port(HOST)
        if not port_is_free(backing.port, HOST):
            holder = port_holder(backing.port) or "an unknown process"
            raise InfraError(
                f"{backing.name}: pinned port {backing.port} is already in use by {holder}",
                hint="stop that process, or drop port= from the backend to get a free port",
            )
        return backing.port

    def up(self) -> None:
        # Resolve every binary first: a missing one is a configuration error and
        # should be reported before anything has been started.
        found = {
            b.name: binaries.find(b.kind, b.min_version, backend_name=b.name)
            for b in self.service.backends
            if b.kind in ("postgres", "redis", "nats") and not b.command
        }
        env = {**os.environ, **self.run.process_env()}
        for backing in self.service.backends:
            port = self._port_for(backing)
            workdir = Path(tempfile.mkdtemp(
                prefix=f"tiers-{self.service.name}-{self.run.id}-{backing.name}-"))
            self._workdirs[backing.name] = workdir
            (workdir / OWNER_FILE).write_text(json.dumps({
                "run_id": self.run.id, "owner": self.run.owner,
                "checkout": str(self.run.checkout), "backend": backing.name,
            }))
            self._ports[backing.name] = port
            binary = found.get(backing.name)
            if backing.kind == "postgres" and binary:
                child = servers.start_postgres(backing, binary, workdir, port, env)
            elif backing.kind == "redis" and binary:
                child = servers.start_redis(backing, binary, workdir, port, env)
            elif backing.kind == "nats" and binary:
                child = servers.start_nats(backing, binary, workdir, port, env)
            else:
                child = servers.start_command(backing, workdir, port, env,
                                              self.service.directory)
            self._children[backing.name] = child
            version = f" {binary.version_text}" if binary else ""
            program = Path(str(child.popen.args[0])).name  # type: ignore[index]
            self.console.info(f"  {backing.name}: {program}{version} "
                              f"on {HOST}:{port} (pid {child.pid})")

    # -- while running ----------------------------------------------------
    def endpoint(self, backing: Backing) -> Endpoint:
        return Endpoint(backing.name, backing.kind, HOST, self._ports[backing.name],
                        user=backing.user, password=backing.password,
                        database=backing.database, path=backing.path)

    def check_alive(self, backing: Backing) -> None:
        child = self._children.get(backing.name)
        if child is None:
            raise BackendDied(f"{backing.name} was never started")
        code = child.exited()
        if code is not None:
            raise BackendDied(f"server process {child.pid} exited with code {code}")

    def log_tail(self, backing: Backing, lines: int = 20) -> str:
        workdir = self._workdirs.get(backing.name)
        if workdir is None:
            return ""
        try:
            text = (workdir / "server.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def collect(self, logs_dir: Path, *, failed: bool) -> list[Path]:
        logs_dir.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for name, workdir in self._workdirs.items():
            source = workdir / "server.log"
            if source.exists():
                target = logs_dir / f"{name}.log"
                target.write_text(redact(source.read_text(errors="replace")))
                written.append(target)
        return written

    # -- teardown ------------------------------------------------------------
    def down(self) -> None:
        for child in reversed(list(self._children.values())):
            stop(child)
        self._children.clear()
        for workdir in self._workdirs.values():
            shutil.rmtree(workdir, ignore_errors=True)
        self._workdirs.clear()

    def keep(self) -> str:
        endpoints = {b.name: self.endpoint(b) for b in self.service.backends}
        kept.save(self.run.checkout, self.run.id, {
            "run_id": self.run.id, "service": self.service.name, "backend": self.name,
            "endpoints": kept.endpoints_to_json(endpoints),
            "pids": {name: c.pid for name, c in self._children.items()},
        })
        # Forget the handles so down() leaves the processes running.
        self._children.clear()
        self._workdirs.clear()
        return f"python {self._runner_path()} --down {self.run.id}"

    def _runner_path(self) -> str:
        with contextlib.suppress(ValueError):
            return str((self.service.directory / "ci" / "tier3.py").relative_to(Path.cwd()))
        return str(self.service.directory / "ci" / "tier3.py")
