"""An HTTP service is ready when a GET of its probe path returns the expected status."""

from __future__ import annotations

import urllib.error
import urllib.request

from ci.endpoints import Endpoint
from ci.probes.base import ATTEMPT_TIMEOUT


class HttpProbe:
    def __init__(self, *, path: str = "/", status: int = 200) -> None:
        self.path = path
        self.status = status
        self.description = f"HTTP GET {path} -> {status}"

    def check(self, endpoint: Endpoint) -> None:
        url = f"http://{endpoint.host}:{endpoint.port}{self.path}"
        try:
            with urllib.request.urlopen(url, timeout=ATTEMPT_TIMEOUT) as response:
                got = response.status
        except urllib.error.HTTPError as exc:
            got = exc.code
        if got != self.status:
            raise RuntimeError(f"GET {self.path} returned {got}, expected {self.status}")
