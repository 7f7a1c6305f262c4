"""An HTTP front for the moto SSM server that answers parameter reads with one AWS error.

moto implements Parameter Store faithfully but neither throttles nor denies;
this front forwards everything to moto except ``GetParameter(s)``, which gets
the error body AWS sends (JSON protocol: ``__type`` and ``message``, HTTP 400),
so the client library parses it exactly as it would parse AWS's.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERRORS: dict[str, str] = {
    "ThrottlingException": "Rate exceeded",
    "AccessDeniedException": "User: arn:aws:iam::123456789012:user/ci is not authorized to "
    "perform: ssm:GetParameters on resource: parameter/corpus/items/api_key",
}


class FaultySSM:
    def __init__(self, upstream: str, error: str) -> None:
        self.upstream = upstream
        self.error = error
        self.hits = 0
        front = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                target = self.headers.get("X-Amz-Target", "")
                if target.endswith((".GetParameters", ".GetParameter")):
                    front.hits += 1
                    self._send(400, json.dumps({"__type": front.error,
                                                "message": ERRORS[front.error]}).encode(),
                               {"x-amzn-ErrorType": front.error})
                    return
                req = urllib.request.Request(front.upstream + self.path, data=body,
                                             headers=dict(self.headers), method="POST")
                try:
                    with urllib.request.urlopen(req, timeout=10) as resp:
                        self._send(resp.status, resp.read(), dict(resp.headers))
                except urllib.error.HTTPError as exc:
                    self._send(exc.code, exc.read(), dict(exc.headers))

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection",
                                           "date", "server"):
                        self.send_header(key, value)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
