"""Build one case's throwaway checkout, run the real runner on it, judge what it did.

A case is one mistake made in a copy of ``fixture/`` (a minimal service with a
database, a cache, two migrations and one test), placed at
``<tmp>/checkout/services/<name>/`` exactly where a real service lives. The
runner runs as a user runs it, a subprocess of ``python
services/<name>/ci/tier3.py``; every case then gets the same four verdicts:
the documented exit code, a message naming what is at fault, no traceback, and
nothing left running (processes, containers, networks, volumes, temp dirs).

Each case's service has its own name, so what the framework names after it
(``tiers-<service>-<run>-*`` temp dirs, compose projects) cannot be confused
with another case's or another person's run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ci.exit_codes import ExitCode

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).resolve().parent / "fixture"

DEFAULTS: dict[str, str] = {
    "backends": '[postgres("db"), redis("cache")]',
    "migrations": '"migrations"',
    "suite": 'Suite("tests", timeout=20)',
}


def declare(tail: str = "", imports: str = "Service, Suite, postgres, redis, secret, var",
            **fields: str) -> str:
    """A tier3.py whose ``Service(...)`` takes the fixture's fields overridden by ``fields``.

    Values are Python source (``backends='[postgres("db")]'``); a value of
    ``""`` drops the field. ``tail`` is code placed after the declaration (hooks).
    """
    merged = {**DEFAULTS, **fields}
    body = "".join(f"    {k}={v},\n" for k, v in merged.items() if v)
    return (f"from ci import {imports}\n\nservice = Service(\n{body})\n"
            f"{textwrap.dedent(tail)}\n"
            "if __name__ == \"__main__\":\n    service.main()\n")


@dataclass
class Checkout:
    """One case's checkout and what its run printed."""

    root: Path
    service: str
    values: dict[str, Any] = field(default_factory=dict)
    """What a case's ``setup`` found (a held port, a moto server) for its ``env``/``args``."""

    @property
    def service_dir(self) -> Path:
        return self.root / "services" / self.service

    def write(self, rel: str, content: str | bytes | None) -> None:
        """Write (or with None, delete) ``rel``: under the service, or the checkout for ``/x``."""
        path = self.root / rel[1:] if rel.startswith("/") else self.service_dir / rel
        if content is None:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content))


Files = Mapping[str, "str | bytes | Callable[[Checkout], str] | None"]


@dataclass(frozen=True)
class Case:
    """One mistake, and what the framework must say and do about it."""

    id: str
    code: ExitCode
    says: tuple[str, ...]
    """Fragments the error message must hold (the file, key or service at fault, the advice)."""
    args: tuple[str, ...] = ()
    files: Files = field(default_factory=dict)
    env: Mapping[str, str | Callable[[Checkout], str]] = field(default_factory=dict)
    setup: Callable[[Checkout], None] | None = None
    backend: str | None = "local"
    python: tuple[str, ...] = ()
    """Replaces ``sys.executable`` (an interpreter without the framework's dependencies)."""
    says_in_output: tuple[str, ...] = ()
    """Fragments anywhere in the output (the test stage's report, not the error message)."""
    timeout: float = 120
    docker: bool = False
    nox: bool = False
    """Run Tier 2 (``nox -s integration-<service>``) instead of the runner itself."""
    check: Callable[[Checkout, str], None] | None = None
    """More to verify after the run (given the checkout and the output)."""
    xfail: str = ""
    """Tier 2 defects: the case is ``xfail(strict=True)`` with this reason until Tier 2 is fixed."""


def service_name(case_id: str) -> str:
    return "bi" + hashlib.sha1(case_id.encode()).hexdigest()[:6]


def make_checkout(tmp: Path, case: Case) -> Checkout:
    co = Checkout(tmp / "checkout", service_name(case.id))
    shutil.copytree(FIXTURE, co.service_dir,
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    if case.setup:
        case.setup(co)
    for rel, content in case.files.items():
        co.write(rel, content(co) if callable(content) else content)
    return co


def base_env(co: Checkout, case: Case) -> dict[str, str]:
    drop = ("TIERS_", "GITHUB_", "AWS_", "NOX_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.pop("CI", None)
    env["TIERS_RESULT_CACHE"] = "off"  # every run a test starts runs for real
    env["PYTHONPATH"] = str(ROOT)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["AWS_CONFIG_FILE"] = str(co.root / "no-aws-config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(co.root / "no-aws-credentials")
    for key, value in case.env.items():
        env[key] = value(co) if callable(value) else value
    return env


def command(co: Checkout, case: Case) -> list[str]:
    if case.nox:
        noxfile = co.root / "noxfile.py"
        noxfile.write_text(
            "import sys\nfrom pathlib import Path\n"
            f"sys.path.insert(0, {str(ROOT)!r})\n"
            "import ci.tier2\n\nci.tier2.register(Path(__file__).resolve().parent)\n")
        nox = Path(sys.executable).parent / "nox"
        return [str(nox) if nox.exists() else "nox", "-f", str(noxfile), "--no-venv",
                "-s", f"integration-{co.service}", "--", *case.args]
    runner = ["services", co.service, "ci", "tier3.py"]
    backend = ["--backend", case.backend] if case.backend else []
    return [*(case.python or (sys.executable,)), os.path.join(*runner), *backend, *case.args]


@dataclass
class Result:
    code: int
    out: str
    seconds: float

    @property
    def run_ids(self) -> list[str]:
        return re.findall(r"\brun ([0-9a-f]{8})\b", self.out)

    def message(self) -> str:
        """The error message: from the first line saying ``error`` to the end."""
        lines = self.out.splitlines()
        for i, line in enumerate(lines):
            if re.search(r"\berror\b|^usage:", line, re.IGNORECASE):
                return "\n".join(lines[i:])
        return ""


def run(co: Checkout, case: Case) -> Result:
    start = time.monotonic()
    proc = subprocess.run(command(co, case), cwd=co.root, env=base_env(co, case),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=case.timeout, check=False)
    out = proc.stdout.decode("utf-8", errors="replace")
    return Result(proc.returncode, out, time.monotonic() - start)


# -- what a run may leave behind ----------------------------------------------
def _environ(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def _cwd(pid: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def _zombie(pid: str) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def processes(co: Checkout, run_ids: list[str]) -> list[str]:
    """Live processes of this checkout: by environment, command line or working directory.

    Three ways because one is not enough: redis-server rewrites its
    environment, a daemonised child may chdir elsewhere, a server's command
    line holds its data directory but not the checkout.
    """
    marks = [str(co.root).encode(), f"tiers-{co.service}-".encode(),
             *(f"tiers-compose-{r}".encode() for r in run_ids),
             *(f"TIERS_RUN_ID={r}\0".encode() for r in run_ids)]
    found = []
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        pid = entry.name
        if not pid.isdigit() or pid == me or _zombie(pid):
            continue
        cmd = _cmdline(pid)
        blob = _environ(pid) + b"\0" + cmd.encode()
        if any(m in blob for m in marks) or _cwd(pid).startswith(str(co.root)):
            found.append(f"pid {pid}: {cmd[:120]}")
    return found


def temp_dirs(co: Checkout, run_ids: list[str]) -> list[str]:
    tmp = Path(tempfile.gettempdir())
    found = list(tmp.glob(f"tiers-{co.service}-*"))
    for run_id in run_ids:
        found += tmp.glob(f"tiers-*-{run_id}-*")
    return sorted({str(p) for p in found})


def docker_objects(co: Checkout) -> list[str]:
    label = f"label=io.tiers.checkout={co.root}"
    found = []
    for kind, cmd in (("container", ["docker", "ps", "-a"]), ("network", ["docker", "network",
                      "ls"]), ("volume", ["docker", "volume", "ls"])):
        proc = subprocess.run([*cmd, "-q", "--filter", label], capture_output=True, text=True,
                              timeout=30, check=False)
        found += [f"{kind} {line}" for line in proc.stdout.split()]
    return found


def leftovers(co: Checkout, result: Result, *, docker: bool, grace: float = 3.0) -> list[str]:
    """What is still there after the run; polled briefly, since a SIGKILLed child takes a moment."""
    deadline = time.monotonic() + grace
    while True:
        found = processes(co, result.run_ids) + temp_dirs(co, result.run_ids)
        if docker:
            found += docker_objects(co)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def cleanup(co: Checkout, result: Result | None, *, docker: bool) -> None:
    """Remove what a failed case left, so one bug does not spill into the next case."""
    import signal

    for line in processes(co, result.run_ids if result else []):
        pid = int(line.split()[1].rstrip(":"))
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    for path in temp_dirs(co, result.run_ids if result else []):
        shutil.rmtree(path, ignore_errors=True)
    if docker:
        for obj in docker_objects(co):
            kind, ident = obj.split()
            rm = {"container": ["docker", "rm", "-f"], "network": ["docker", "network", "rm"],
                  "volume": ["docker", "volume", "rm", "-f"]}[kind]
            subprocess.run([*rm, ident], capture_output=True, timeout=60, check=False)


def run_json(co: Checkout) -> dict[str, Any] | None:
    found = sorted((co.root / "artifacts").rglob("run.json"))
    return json.loads(found[-1].read_text()) if found else None
