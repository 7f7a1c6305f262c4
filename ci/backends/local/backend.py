"""``--backend local``: every backing service as a child process on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from ci import keep as kept
from ci.backends.base import Backend
from ci.backends.local import binaries
from ci.backends.local.binaries import Binary
from ci.backends.local.processes import (
    Child,
    kill_all,
    kill_tracked,
    stop_all,
    tagged_processes,
)
from ci.backends.local.servers import server_env
from ci.backing import Backing
from ci.endpoints import Endpoint
from ci.errors import BackendDied, InfraError
from ci.kinds.base import LocalServers, LocalStart
from ci.masking import redact
from ci.ports import free_port, port_holder, port_is_free
from ci.runinfo import owner_alive, process_start_ticks

HOST = "127.0.0.1"
OWNER_FILE = "tiers-owner.json"


class LocalBackend(Backend):
    name = "local"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._children: dict[str, tuple[Child, ...]] = {}
        """Every process of each backing (several for a Redis Cluster)."""
        self._workdirs: dict[str, Path] = {}
        self._ports: dict[str, int] = {}
        self._binaries: dict[str, Binary] | None = None
        self._nodes: dict[str, tuple[int, ...]] = {}
        self._peers: dict[str, tuple[str, ...]] = {}

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
        removed += self._sweep_dirs(self._orphaned)
        # A second net for processes whose run dir is already gone: their
        # environment still names the run (servers that rewrite their own
        # environment, like redis-server, are caught by the state file above).
        stale = [p for p in tagged_processes() if self._orphaned(p.run_id, p.owner, p.checkout)]
        if stale:
            kill_all([p.pid for p in stale])
            removed += [f"process {p.pid} of run {p.run_id}: {p.command[:80]}" for p in stale]
        return removed

    def _sweep_dirs(self, should_remove: Callable[[str, str, str], bool]) -> list[str]:
        """Stop the processes a run dir's state file lists, then remove the dir."""
        removed: list[str] = []
        for path in Path(tempfile.gettempdir()).glob("tiers-*"):
            marker = path / OWNER_FILE
            try:
                info = json.loads(marker.read_text())
                run_id, owner, checkout = info["run_id"], info["owner"], info["checkout"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if not should_remove(run_id, owner, checkout):
                continue
            for proc in info.get("processes", []):
                if kill_tracked(int(proc["pid"]), str(proc["start"])):
                    removed.append(f"process {proc['pid']} ({info.get('backend', '?')}) "
                                   f"of run {run_id}")
            shutil.rmtree(path, ignore_errors=True)
            removed.append(f"temp dir {path} of run {run_id}")
        return removed

    def release(self, run_id: str) -> list[str]:
        """Tear down a kept run of this checkout (``--down RUN_ID``)."""
        checkout = str(self.run.checkout)
        removed = self._sweep_dirs(lambda rid, _o, co: rid == run_id and co == checkout)
        mine = [p for p in tagged_processes() if p.run_id == run_id and p.checkout == checkout]
        kill_all([p.pid for p in mine])
        removed += [f"process {p.pid}: {p.command[:80]}" for p in mine]
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

    def preflight(self) -> None:
        """Find every binary and check pinned ports before anything starts."""
        self._binaries = {}
        for b in self.service.backends:
            spec = b.kind.binaries
            if spec is not None and not b.kind.command:
                self._binaries[b.name] = binaries.find(spec, b.kind_name, b.min_version,
                                                       backend_name=b.name)
        for b in self.service.backends:
            if b.port is not None:
                self._port_for(b)

    def up(self) -> None:
        if self._binaries is None:
            self.preflight()
        found = self._binaries or {}
        ports = {b.name: self._port_for(b) for b in self.service.backends}
        env = server_env(os.environ, self.run.process_env())
        for backing in self.service.backends:
            port = ports[backing.name]
            workdir = Path(tempfile.mkdtemp(
                prefix=f"tiers-{self.service.name}-{self.run.id}-{backing.name}-"))
            self._workdirs[backing.name] = workdir
            self._write_state(backing.name, workdir, [])
            self._ports[backing.name] = port
            binary = found.get(backing.name)
            # A command the service declares is part of the system under test: it
            # also gets the service's fixed env (never the runner's secrets).
            own_env = {**env, **self.service.env} if backing.kind.command else env
            start = LocalStart(binary=binary, workdir=workdir, port=port, env=own_env,
                               cwd=self.service.directory, host=HOST)
            started = backing.kind.start_local(backing, start)
            if not isinstance(started, LocalServers):
                started = LocalServers((started,))
            children = started.children
            self._children[backing.name] = children
            self._nodes[backing.name] = started.nodes
            self._peers[backing.name] = started.peers
            self._write_state(backing.name, workdir, [c.pid for c in children])
            version = f" {binary.version_text}" if binary else ""
            program = Path(str(children[0].popen.args[0])).name  # type: ignore[index]
            pids = ", ".join(str(c.pid) for c in children)
            more = f", {len(children)} processes" if len(children) > 1 else ""
            self.console.info(f"  {backing.name}: {program}{version} "
                              f"on {HOST}:{port}{more} (pid {pids})")

    def _write_state(self, backing: str, workdir: Path, pids: list[int]) -> None:
        """Who owns this dir and which processes it started, by pid *and* start time.

        Written before the server starts and again after: a SIGKILLed run's
        servers are found from here even when they rewrote their environment.
        """
        state = {
            "run_id": self.run.id, "owner": self.run.owner,
            "checkout": str(self.run.checkout), "backend": backing,
            "processes": [{"pid": pid, "start": process_start_ticks(pid) or ""}
                          for pid in pids],
        }
        tmp = workdir / (OWNER_FILE + ".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, workdir / OWNER_FILE)

    # -- while running ----------------------------------------------------
    def endpoint(self, backing: Backing) -> Endpoint:
        nodes = tuple(f"{HOST}:{p}" for p in self._nodes.get(backing.name, ()))
        return backing.endpoint(HOST, self._ports[backing.name], nodes=nodes,
                                peers=self._peers.get(backing.name, ()))

    def check_alive(self, backing: Backing) -> None:
        children = self._children.get(backing.name)
        if not children:
            raise BackendDied(f"{backing.name} was never started")
        for child in children:
            code = child.exited()
            if code is not None:
                which = f" ({child.name})" if len(children) > 1 else ""
                raise BackendDied(f"server process {child.pid}{which} exited with code {code}")

    def log_tail(self, backing: Backing, lines: int = 20) -> str:
        workdir = self._workdirs.get(backing.name)
        if workdir is None:
            return ""
        tails: list[str] = []
        logs = _logs(workdir)
        for path in logs:
            try:
                text = path.read_text(errors="replace")
            except OSError:
                continue
            tail = "\n".join(text.splitlines()[-lines:])
            tails.append(f"[{path.stem}]\n{tail}" if len(logs) > 1 else tail)
        return "\n".join(tails)

    def collect(self, logs_dir: Path, *, failed: bool) -> list[Path]:
        logs_dir.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for name, workdir in self._workdirs.items():
            for source in _logs(workdir):
                suffix = "" if source.name == "server.log" else f"-{source.stem}"
                target = logs_dir / f"{name}{suffix}.log"
                target.write_text(redact(source.read_text(errors="replace")))
                written.append(target)
        return written

    # -- teardown ------------------------------------------------------------
    def down(self) -> None:
        stop_all([c for group in reversed(list(self._children.values()))
                  for c in reversed(group)])
        self._children.clear()
        for workdir in self._workdirs.values():
            shutil.rmtree(workdir, ignore_errors=True)
        self._workdirs.clear()

    def keep(self) -> str:
        endpoints = {b.name: self.endpoint(b) for b in self.service.backends}
        command = f"python {self._runner_path()} --down {self.run.id}"
        kept.save(self.run.checkout, kept.KeptRun(
            run_id=self.run.id, service=self.service.name, backend=self.name,
            endpoints=endpoints, down=command))
        # Forget the handles so down() leaves the processes running.
        self._children.clear()
        self._workdirs.clear()
        return command

    def _runner_path(self) -> str:
        with contextlib.suppress(ValueError):
            return str((self.service.directory / "ci" / "tier3.py").relative_to(Path.cwd()))
        return str(self.service.directory / "ci" / "tier3.py")


def _logs(workdir: Path) -> list[Path]:
    """The server logs in a backing's workdir: ``server.log``, then one per extra process."""
    main = workdir / "server.log"
    return ([main] if main.exists() else []) + sorted(
        p for p in workdir.glob("*.log") if p.name != "server.log")
