"""A real SSM endpoint for tests: moto in server mode on a loopback port.

Requests are recorded on the server side (moto's recorder, one JSON line per
request), so a test can count round trips instead of assuming them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.prereqs import need


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoSSM:
    """A moto server subprocess with request recording, and helpers to use it."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
        need(Path(binary).exists(), "moto_server (moto[server])", "pip install 'moto[server]'")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.recording = workdir / "moto-recording.jsonl"
        env = {**os.environ, "MOTO_ENABLE_RECORDING": "true",
               "MOTO_RECORDER_FILEPATH": str(self.recording)}
        self.log = (workdir / "moto.log").open("w")
        self.proc = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(self.port)],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start: {self.recording}") from None
                time.sleep(0.1)

    def env(self) -> dict[str, str]:
        """What a client needs to reach this server with fake credentials."""
        return {"AWS_ENDPOINT_URL": self.url, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing-secret", "AWS_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true"}

    def client(self) -> Any:
        import boto3

        e = self.env()
        return boto3.client("ssm", endpoint_url=self.url, region_name=e["AWS_REGION"],
                            aws_access_key_id=e["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=e["AWS_SECRET_ACCESS_KEY"])

    def put(self, name: str, value: str, kind: str = "SecureString") -> None:
        self.client().put_parameter(Name=name, Value=value, Type=kind, Overwrite=True)

    def reset_recording(self) -> None:
        req = urllib.request.Request(self.url + "/moto-api/recorder/reset-recording",
                                     method="POST")
        urllib.request.urlopen(req, timeout=5).close()
        req = urllib.request.Request(self.url + "/moto-api/recorder/start-recording",
                                     method="POST")
        urllib.request.urlopen(req, timeout=5).close()

    def requests(self, action: str | None = None) -> list[str]:
        """The SSM actions received since the last reset (``AmazonSSM.X`` -> ``X``)."""
        if not self.recording.exists():
            return []
        targets = []
        for line in self.recording.read_text().splitlines():
            headers = {k.lower(): v for k, v in json.loads(line)["headers"].items()}
            target = headers.get("x-amz-target", "").removeprefix("AmazonSSM.")
            if target and (action is None or target == action):
                targets.append(target)
        return targets

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


FAULTS: dict[str, tuple[int, str]] = {
    "500": (500, '{"__type":"InternalServerError","message":"We encountered an internal error"}'),
    "503": (503, '{"__type":"ServiceUnavailable","message":"Service Unavailable"}'),
    "throttle": (400, '{"__type":"ThrottlingException","message":"Rate exceeded"}'),
    "denied": (400, '{"__type":"AccessDeniedException","message":"User is not authorized"}'),
}


class FaultyProxy:
    """A real HTTP hop in front of moto that answers the next requests with AWS faults.

    ``faults`` is consumed one per request ("500", "503", "throttle",
    "denied"); once empty (or with ``always`` set) requests are forwarded to
    moto unchanged. boto3 sees real status codes and bodies over a socket.
    """

    def __init__(self, target: str, faults: list[str], always: str | None = None) -> None:
        import http.server
        import threading

        self.faults = list(faults)
        self.always = always
        self.seen: list[str] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fault = proxy.faults.pop(0) if proxy.faults else proxy.always
                proxy.seen.append(fault or "forwarded")
                if fault:
                    status, text = FAULTS[fault]
                    data = text.encode()
                    ctype = "application/x-amz-json-1.1"
                else:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in ("host", "content-length")}
                    req = urllib.request.Request(target + self.path, data=body,
                                                 headers=headers, method="POST")
                    try:
                        with urllib.request.urlopen(req, timeout=10) as resp:
                            status, data = resp.status, resp.read()
                            ctype = resp.headers.get("Content-Type", "")
                    except urllib.error.HTTPError as err:
                        status, data = err.code, err.read()
                        ctype = err.headers.get("Content-Type", "")
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
