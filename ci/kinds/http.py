"""An HTTP service, ready when a GET of its probe path returns the expected status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Unpack

from ci.backing import Backing, Placement
from ci.endpoints import Endpoint
from ci.kinds.base import Kind

if TYPE_CHECKING:
    from ci.probes.base import Probe


@dataclass(frozen=True)
class Http(Kind):
    name: ClassVar[str] = "http"
    default_port: ClassVar[int] = 80
    scheme: ClassVar[str] = "http"

    path: str = "/"
    expect_status: int = 200

    def endpoint_fields(self) -> dict[str, Any]:
        return {"path": self.path}

    def url(self, ep: Endpoint, *, masked: bool = False) -> str:
        return f"http://{ep.host}:{ep.port}{ep.path}"

    def probe(self) -> Probe:
        return HttpProbe(path=self.path, status=self.expect_status)


def http(name: str, *, command: Sequence[str] = (), path: str = "/", expect_status: int = 200,
         **placement: Unpack[Placement]) -> Backing:
    """An HTTP service, probed with a GET of ``path``; ``command`` starts it locally."""
    return Backing(name, Http(path=path, expect_status=expect_status, command=tuple(command)),
                   **placement)


class HttpProbe:
    def __init__(self, *, path: str = "/", status: int = 200) -> None:
        self.path = path
        self.status = status
        self.description = f"HTTP GET {path} -> {status}"

    def check(self, endpoint: Endpoint) -> None:
        # Imported here, not at the top: urllib.request costs Tier 3's start-up
        # 25 ms on every run, HTTP backend or not.
        import urllib.error
        import urllib.request

        from ci.probes.base import ATTEMPT_TIMEOUT

        url = f"http://{endpoint.host}:{endpoint.port}{self.path}"
        try:
            with urllib.request.urlopen(url, timeout=ATTEMPT_TIMEOUT) as response:
                got = response.status
        except urllib.error.HTTPError as exc:
            got = exc.code
        if got != self.status:
            raise RuntimeError(f"GET {self.path} returned {got}, expected {self.status}")
