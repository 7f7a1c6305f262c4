"""``nox -s kube-e2e -- --context NAME [--test-image IMAGE] [--load-images]``: a real cluster.

The checks no fake API server can make: real scheduling, image pulls,
readiness probes, port-forwards and namespace deletion. Run by a person
against a throw-away kind or k3d cluster; never part of ``nox -s tests``
(no cluster can run where the framework's own CI runs).

Scenarios, each printed with its verdict:
  host      the example service's runner, ``--backend kubernetes``: exit 0
  job       the same with ``--in-cluster IMAGE`` (only with --test-image): exit 0
  bad-image a Pod whose image cannot exist: up fails fast (BackendDied), well
            inside the start budget
  sigkill   a run killed with SIGKILL leaves its namespace; the next sweep removes it
  sigterm   a run sent SIGTERM deletes its own namespace and exits 130
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ci.backends.kubernetes import names
from ci.backends.kubernetes import sweep as sweeping
from ci.console import Console
from ci.errors import BackendDied
from ci.runinfo import RunInfo

RUNNER = Path("services") / "agent_executor" / "ci" / "tier3.py"
BAD_IMAGE = "tiers-e2e.invalid/does-not-exist:never"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nox -s kube-e2e --")
    parser.add_argument("--context", required=True, help="kube context of a throw-away cluster")
    parser.add_argument("--test-image", help="test image for the Job-mode scenario")
    parser.add_argument("--load-images", action="store_true",
                        help="import the stand-in images into the kind/k3d cluster first")
    parser.add_argument("--only", help="comma-separated scenarios")
    return parser.parse_args(argv)


def _runner(root: Path, opts: argparse.Namespace, *extra: str) -> list[str]:
    argv = [sys.executable, str(root / RUNNER), "--backend", "kubernetes",
            "--kube-context", opts.context, *extra]
    if opts.load_images:
        argv.append("--load-images")
    return argv


def _namespaces(client: Any, root: Path) -> list[str]:
    selector = sweeping.selector(names.checkout_hash(str(root)))
    return [str(n["metadata"]["name"]) for n in
            client.list_objects("Namespace", label_selector=selector)
            if (n.get("status") or {}).get("phase") != "Terminating"]


def _wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(1)
    return False


def host(root: Path, opts: argparse.Namespace, client: Any) -> str:
    done = subprocess.run(_runner(root, opts), cwd=root, check=False)
    assert done.returncode == 0, f"exit {done.returncode}"
    return "exit 0"


def job(root: Path, opts: argparse.Namespace, client: Any) -> str:
    if not opts.test_image:
        return "not run: pass --test-image IMAGE"
    done = subprocess.run(_runner(root, opts, "--in-cluster", opts.test_image), cwd=root,
                          check=False)
    assert done.returncode == 0, f"exit {done.returncode}"
    return "exit 0"


def bad_image(root: Path, opts: argparse.Namespace, client: Any) -> str:
    from ci import Service, redis
    from ci.backends.kubernetes.backend import KubernetesBackend

    with tempfile.TemporaryDirectory() as tmp:
        checkout = Path(tmp)
        (checkout / "services" / "kube_e2e_bad").mkdir(parents=True)
        (checkout / "compose").mkdir()
        (checkout / "compose" / "kube_e2e_bad.yml").write_text(
            f"services:\n  cache:\n    image: {BAD_IMAGE}\n", encoding="utf-8")
        service = Service(backends=[redis("cache")], root=checkout / "services" / "kube_e2e_bad")
        backend = KubernetesBackend(service, RunInfo(service.name, checkout), Console("e2e"))
        backend.configure(argparse.Namespace(kube_context=opts.context, load_images=False,
                                             in_cluster=None))
        started = time.monotonic()
        try:
            backend.sweep()
            backend.up()
        except BackendDied as died:
            took = time.monotonic() - started
            assert "ErrImagePull" in died.message or "ImagePullBackOff" in died.message, \
                died.message
            return f"failed fast in {took:.1f}s: {died.message.splitlines()[0]}"
        finally:
            backend.down()
    raise AssertionError("up succeeded with an image that cannot exist")


def _start_and_signal(root: Path, opts: argparse.Namespace, client: Any,
                      sig: signal.Signals) -> tuple[subprocess.Popen[bytes], list[str]]:
    before = set(_namespaces(client, root))
    proc = subprocess.Popen(_runner(root, opts), cwd=root)
    fresh: list[str] = []

    def appeared() -> bool:
        fresh[:] = [n for n in _namespaces(client, root) if n not in before]
        return bool(fresh)

    assert _wait_for(appeared, 120), "the run's namespace never appeared"
    time.sleep(3)  # let up create the Pods
    proc.send_signal(sig)
    return proc, fresh


def sigkill(root: Path, opts: argparse.Namespace, client: Any) -> str:
    proc, fresh = _start_and_signal(root, opts, client, signal.SIGKILL)
    proc.wait(timeout=30)
    assert set(fresh) <= set(_namespaces(client, root)), "namespace vanished without a sweep"
    done = subprocess.run(_runner(root, opts, "--only", "up,down"), cwd=root, check=False)
    assert done.returncode == 0, f"the sweeping run exited {done.returncode}"
    assert _wait_for(lambda: not set(fresh) & set(_namespaces(client, root)), 120), \
        f"{fresh} still there after the sweep"
    return f"swept {', '.join(fresh)}"


def sigterm(root: Path, opts: argparse.Namespace, client: Any) -> str:
    proc, fresh = _start_and_signal(root, opts, client, signal.SIGTERM)
    code = proc.wait(timeout=180)
    assert code == 130, f"exit {code}, expected 130"
    assert not set(fresh) & set(_namespaces(client, root)), f"{fresh} left behind"
    return f"exit 130, {', '.join(fresh)} deleted"


SCENARIOS: dict[str, Callable[[Path, argparse.Namespace, Any], str]] = {
    "host": host, "job": job, "bad-image": bad_image, "sigkill": sigkill, "sigterm": sigterm}


def main(argv: list[str], root: Path) -> int:
    from ci.backends.kubernetes.client import KubeClient
    from ci.backends.kubernetes.context import choose

    opts = parse(argv)
    chosen = choose(opts.context, os.environ)
    client = KubeClient(chosen.kubeconfig, chosen.context)
    chosen_names = opts.only.split(",") if opts.only else list(SCENARIOS)
    failures = 0
    try:
        print(f"kube-e2e: context {chosen.context}, server {client.connect()}", flush=True)
        for name in chosen_names:
            try:
                verdict = SCENARIOS[name](root, opts, client)
                print(f"kube-e2e {name:<10} ok    {verdict}", flush=True)
            except AssertionError as exc:
                failures += 1
                print(f"kube-e2e {name:<10} FAIL  {exc}", flush=True)
    finally:
        client.close()
    return 1 if failures else 0


def session_kube_e2e(session: Any) -> None:
    """The nox session body: install the framework, then run the scenarios."""
    session.install("-e", ".")
    session.run("python", "-c",
                "import sys; from pathlib import Path; from ci.backends.kubernetes import e2e; "
                "sys.exit(e2e.main(sys.argv[1:], Path.cwd()))", *session.posargs)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], Path.cwd()))
