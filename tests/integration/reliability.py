"""A throwaway checkout with one service on PostgreSQL, Redis and NATS, for fault tests.

The same service runs on ``--backend local`` and ``--backend compose``; its
suite is chosen per test (one that blocks until its server is gone, one that
leaves a child running, one that prints a secret). A :class:`Run` is a real
Tier 3 process whose output is read line by line, so a test waits for a stage
to begin by watching for its line, never by sleeping a fixed time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci.backends.local.processes import read_environ
from ci.runinfo import ENV_RUN_ID, process_start_ticks

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "faults"
BACKENDS = {"db": "postgres", "cache": "redis", "bus": "nats"}

TIER3 = '''
from ci import Service, Suite, nats, postgres, redis
service = Service(
    backends=[postgres("db", database="faults", timeout=120), redis("cache", timeout=120),
              nats("bus", timeout=120)],
    suite=Suite("tests", timeout={timeout}{suite_extra}),
    requires={requires},
)
if __name__ == "__main__":
    service.main()
'''

COMPOSE = """
services:
  db:
    image: postgres:15
    environment: {POSTGRES_USER: test, POSTGRES_PASSWORD: test, POSTGRES_DB: faults}
    ports: ["127.0.0.1::5432"]
    healthcheck:
      test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "test", "-d", "faults"]
      interval: 1s
      timeout: 3s
      retries: 30
  cache:
    image: redis:7
    ports: ["127.0.0.1::6379"]
  bus:
    image: nats:2.10-alpine
    command: ["-js"]
    ports: ["127.0.0.1::4222"]
"""

MIGRATIONS = {
    "001_widgets.sql": "CREATE TABLE widgets (id serial PRIMARY KEY, name text);",
    "002_seed.sql": "INSERT INTO widgets (name) VALUES ('one');",
}

WAIT_FOR_DEATH = '''
import os, socket, time

def _up(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False

def test_blocks_until_{name}_is_gone():
    port = int(os.environ["{env}_PORT"])
    assert _up(port)
    print("FAULTS-TEST-STARTED", flush=True)
    deadline = time.monotonic() + 120
    while _up(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    print("FAULTS-SERVER-GONE", flush=True)
    time.sleep(120)  # a client hung on a dead server: only the watchdog ends this
'''


@dataclass
class Checkout:
    root: Path

    @property
    def service_dir(self) -> Path:
        return self.root / "services" / SERVICE

    @property
    def runner(self) -> Path:
        return self.service_dir / "ci" / "tier3.py"

    @property
    def compose_file(self) -> Path:
        return self.root / "compose" / f"{SERVICE}.yml"

    def artifacts(self) -> list[Path]:
        base = self.root / "artifacts" / "integration" / SERVICE
        return sorted(base.iterdir()) if base.exists() else []

    def run_json(self, run_id: str | None = None) -> dict[str, Any]:
        for folder in reversed(self.artifacts()):
            path = folder / "run.json"
            if path.exists():
                data: dict[str, Any] = json.loads(path.read_text())
                if run_id is None or data["run_id"] == run_id:
                    return data
        raise AssertionError(f"no run.json for run {run_id} under {self.root / 'artifacts'}")

    def write_test(self, body: str) -> None:
        (self.service_dir / "tests" / "test_faults.py").write_text(textwrap.dedent(body))


def make_checkout(tmp: Path, test_body: str, *, timeout: int = 60, requires: str = "[]",
                  cov: bool = False) -> Checkout:
    co = Checkout(tmp / "checkout")
    sdir = co.service_dir
    for sub in ("ci", "tests", "migrations"):
        (sdir / sub).mkdir(parents=True)
    co.runner.write_text(TIER3.format(timeout=timeout, requires=requires,
                                      suite_extra=', cov="faults_app"' if cov else ""))
    (sdir / "faults_app").mkdir()
    (sdir / "faults_app" / "__init__.py").write_text("def token_length(v):\n    return len(v)\n")
    co.write_test(test_body)
    for name, sql in MIGRATIONS.items():
        (sdir / "migrations" / name).write_text(sql)
    co.compose_file.parent.mkdir()
    co.compose_file.write_text(COMPOSE)
    return co


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TIERS_", "GITHUB_")) and k != "CI"}
    env["TIERS_RESULT_CACHE"] = "off"  # every run a test starts runs for real
    env["PYTHONPATH"] = str(ROOT)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Run:
    """One Tier 3 process in its own session, its output read line by line in a thread."""

    def __init__(self, co: Checkout, backend: str, *args: str, env: dict[str, str] | None = None,
                 stderr_apart: bool = False) -> None:
        self.started = time.monotonic()
        # A parent started in the background (nohup, `cmd &`) ignores SIGINT, and an ignored
        # signal stays ignored across exec: the run would never see the Ctrl-C sent to it.
        ignored = (threading.current_thread() is threading.main_thread()
                   and signal.getsignal(signal.SIGINT) == signal.SIG_IGN)
        if ignored:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            self.proc = self._start(co, backend, args, env, stderr_apart)
        finally:
            if ignored:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.lines: list[tuple[float, str]] = []
        self.stderr = ""
        self._readers = [threading.Thread(target=self._read, daemon=True)]
        if stderr_apart:
            self._readers.append(threading.Thread(target=self._read_err, daemon=True))
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _start(co: Checkout, backend: str, args: tuple[str, ...], env: dict[str, str] | None,
               stderr_apart: bool) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(co.runner), "--backend", backend, *args], cwd=co.root,
            env=env or base_env(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if stderr_apart else subprocess.STDOUT, text=True,
            start_new_session=True)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()

    @property
    def output(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def find(self, pattern: str) -> tuple[float, str] | None:
        for stamp, line in list(self.lines):
            if re.search(pattern, line):
                return stamp, line
        return None

    def wait_for(self, pattern: str, timeout: float = 120) -> float:
        """Wait for a line matching ``pattern``; returns when it was read."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.find(pattern)
            if found is not None:
                return found[0]
            if self.proc.poll() is not None and not self._readers[0].is_alive():
                break
            time.sleep(0.01)
        raise AssertionError(f"no line matching {pattern!r}; output:\n{self.output}")

    @property
    def run_id(self) -> str:
        self.wait_for(r"\] run [0-9a-f]{8}:")
        found = self.find(r"\] run ([0-9a-f]{8}):")
        assert found is not None
        match = re.search(r"\] run ([0-9a-f]{8}):", found[1])
        assert match is not None
        return match.group(1)

    def signal(self, sig: int, *, group: bool = False) -> None:
        try:
            if group:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)
        except ProcessLookupError:
            pass

    def finish(self, timeout: float = 180) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL, group=True)
            raise
        for reader in self._readers:
            reader.join(10)
        return code


# -- what a run may leave behind ----------------------------------------------------------
def _alive(pid: int, start: str) -> bool:
    current = process_start_ticks(pid)
    if current is None or (start and current != start):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def state_files() -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob("tiers-*/tiers-owner.json"))


def recorded_processes(checkout: Path) -> dict[str, list[tuple[int, str]]]:
    """run id -> (pid, start) the local backend's state files record for ``checkout``."""
    found: dict[str, list[tuple[int, str]]] = {}
    for path in state_files():
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if info.get("checkout") != str(checkout):
            continue
        found.setdefault(info["run_id"], []).extend(
            (int(p["pid"]), str(p["start"])) for p in info.get("processes", []))
    return found


def processes_of(run_ids: set[str]) -> list[str]:
    """Live processes carrying one of ``run_ids`` in their environment."""
    found: list[str] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        env = read_environ(int(entry.name))
        rid = env.get(ENV_RUN_ID) or env.get("TIERS_SUITE_OF")
        if rid in run_ids and _alive(int(entry.name), ""):
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:80]
            except OSError:
                cmd = "?"
            found.append(f"pid {entry.name} of run {rid}: {cmd}")
    return found


def docker_leftovers(cli: Any, checkout: Path) -> list[str]:
    selector = {"label": [f"io.tiers.checkout={checkout}"]}
    return ([f"container {c.name}" for c in cli.containers.list(all=True, filters=selector)]
            + [f"network {n.name}" for n in cli.networks.list(filters=selector)]
            + [f"volume {v.name}" for v in cli.volumes.list(filters=selector)])


def leftovers(checkout: Path, run_ids: set[str], tracked: dict[str, list[tuple[int, str]]],
              cli: Any = None) -> list[str]:
    """Everything the runs ``run_ids`` of ``checkout`` left: processes, temp dirs, Docker."""
    found: list[str] = []
    for run_id, procs in tracked.items():
        found += [f"pid {pid} recorded by run {run_id}" for pid, start in procs
                  if _alive(pid, start)]
    found += processes_of(run_ids)
    tmp = Path(tempfile.gettempdir())
    for run_id in run_ids:
        found += [f"temp dir {p}" for p in tmp.glob(f"tiers-*{run_id}*")]
    if cli is not None:
        found += docker_leftovers(cli, checkout)
    return found


def settle(check: Any, timeout: float = 10.0) -> list[str]:
    """``check()`` until it returns nothing or ``timeout`` passes (teardown is async)."""
    deadline = time.monotonic() + timeout
    found: list[str] = check()
    while found and time.monotonic() < deadline:
        time.sleep(0.2)
        found = check()
    return found


def server_pid(run_id: str, backing: str) -> int:
    """The local server process of ``backing`` in run ``run_id``, from its state file."""
    for path in Path(tempfile.gettempdir()).glob(f"tiers-{SERVICE}-{run_id}-{backing}-*/"
                                                 "tiers-owner.json"):
        info = json.loads(path.read_text())
        if info["processes"]:
            return int(info["processes"][0]["pid"])
    raise AssertionError(f"no state file for {backing} of run {run_id}")


def container_of(cli: Any, run_id: str, backing: str) -> Any:
    found = cli.containers.list(filters={"label": [f"io.tiers.run-id={run_id}",
                                                   f"com.docker.compose.service={backing}"]})
    assert len(found) == 1, f"{backing} of run {run_id}: {found}"
    return found[0]
