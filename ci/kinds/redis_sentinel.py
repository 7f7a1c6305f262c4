"""Redis Sentinel: a master watched by ``sentinels`` Sentinels under ``master_name``.

Declared as ``redis("ha", topology="sentinel")``. The endpoint is the first
Sentinel (what a client such as redis-py's ``Sentinel`` connects to); its
``nodes`` are every Sentinel, and its ``database`` field holds the master's
name, the place ``redis+sentinel://host:port/<master>`` URLs put it. Ready
when every Sentinel answers ``SENTINEL get-master-addr-by-name`` with an
address, does not flag the master down, and the master at that address
answers PING with role ``master``.

A Sentinel needs a configuration file it can rewrite, so on every backend the
framework writes it: locally into the run's temp dir, on compose into the
run's folder, mounted into each Sentinel service by the run's override file.
On compose the Sentinels find the master by its service name
(``sentinel resolve-hostnames``) and report its container address, which a
Linux host reaches directly (Docker Desktop does not route to it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ci.endpoints import Endpoint
from ci.kinds.base import LocalServers, LocalStart
from ci.kinds.redis import STOP_SIGNAL, Redis, redis_client, side_ports
from ci.kinds.redis_cluster import _binary_or_fail, _split

if TYPE_CHECKING:
    from ci.backing import Backing
    from ci.probes.base import Probe

SENTINEL_PORT = 26379
MASTER_FLAGS = ("--save", "", "--appendonly", "no", "--protected-mode", "no")
CONTAINER_DIR = "/tiers-sentinel"


@dataclass(frozen=True)
class RedisSentinel(Redis):
    name: ClassVar[str] = "redis-sentinel"
    default_port: ClassVar[int] = SENTINEL_PORT
    scheme: ClassVar[str] = "redis+sentinel"

    sentinels: int = 1
    master_name: str = "mymaster"
    topology: str = "sentinel"

    def problems(self, backing: Backing) -> list[str]:
        found = super().problems(backing)
        if self.sentinels < 1:
            found.append(f"redis({backing.name!r}, topology='sentinel'): "
                         f"sentinels={self.sentinels}; at least one is needed")
        return found

    @property
    def quorum(self) -> int:
        return self.sentinels // 2 + 1

    def endpoint_fields(self) -> dict[str, Any]:
        return {"database": self.master_name}

    def url(self, ep: Endpoint, *, masked: bool = False) -> str:
        hosts = ",".join(ep.nodes) or ep.address
        return f"redis+sentinel://{hosts}/{ep.database or ''}"

    def env(self, ep: Endpoint) -> dict[str, str]:
        return {"REDIS_SENTINEL_NODES": ",".join(ep.nodes) or ep.address,
                "REDIS_SENTINEL_HOST": ep.host, "REDIS_SENTINEL_PORT": str(ep.port),
                "REDIS_SENTINEL_MASTER": ep.database or "", "REDIS_SENTINEL_URL": self.url(ep)}

    def probe(self) -> Probe:
        return SentinelProbe()

    def config(self, *, port: int, bind: str, master_host: str, master_port: int,
               directory: str, resolve_hostnames: bool = False) -> str:
        lines = [f"port {port}", f"bind {bind}", "protected-mode no", f"dir {directory}"]
        if resolve_hostnames:
            lines.append("sentinel resolve-hostnames yes")
        lines += [
            f"sentinel monitor {self.master_name} {master_host} {master_port} {self.quorum}",
            f"sentinel down-after-milliseconds {self.master_name} 5000",
            f"sentinel failover-timeout {self.master_name} 10000",
        ]
        return "\n".join(lines) + "\n"

    def start_local(self, backing: Backing, start: LocalStart) -> LocalServers:
        from ci.backends.local.processes import spawn

        binary = _binary_or_fail(backing, start)
        master_port, *others = side_ports(self.sentinels, start.host, avoid={start.port})
        master = spawn(f"{backing.name}-master",
                       [str(binary), "--port", str(master_port), "--bind", start.host,
                        "--dir", str(start.workdir), "--daemonize", "no", *MASTER_FLAGS],
                       log=start.workdir / "master.log", env=start.env, stop_signal=STOP_SIGNAL)
        ports = (start.port, *others)
        children = [master]
        for i, port in enumerate(ports):
            conf = start.workdir / f"sentinel-{port}.conf"
            conf.write_text(self.config(port=port, bind=start.host, master_host=start.host,
                                        master_port=master_port, directory=str(start.workdir)))
            log = start.log if i == 0 else start.workdir / f"sentinel-{port}.log"
            children.append(spawn(f"{backing.name}-sentinel-{port}",
                                  [str(binary), str(conf), "--sentinel"],
                                  log=log, env=start.env, stop_signal=STOP_SIGNAL))
        return LocalServers(tuple(children), ports)

    # -- compose: <name> (, <name>-1 ...) are Sentinels, <name>-master the master --
    def compose_nodes(self, backing: Backing) -> tuple[str, ...]:
        base = backing.compose_name
        return (base, *(f"{base}-{i}" for i in range(1, self.sentinels)))

    def compose_services(self, backing: Backing) -> tuple[str, ...]:
        return (*self.compose_nodes(backing), self.master_service(backing))

    def master_service(self, backing: Backing) -> str:
        return f"{backing.compose_name}-master"

    def compose_override(self, backing: Backing, workdir: Path) -> dict[str, dict[str, Any]]:
        master = self.master_service(backing)
        out: dict[str, dict[str, Any]] = {
            master: {"command": ["redis-server", "--port", "6379", *MASTER_FLAGS]}}
        for service in self.compose_nodes(backing):
            folder = workdir / f"sentinel-{service}"
            folder.mkdir(parents=True, exist_ok=True)
            conf = folder / "sentinel.conf"
            conf.write_text(self.config(port=backing.default_port, bind="0.0.0.0",
                                        master_host=master, master_port=6379,
                                        directory="/tmp", resolve_hostnames=True))
            # The image's server user must rewrite the file (and its folder: a
            # rewrite is a rename), whatever its uid.
            os.chmod(folder, 0o777)
            os.chmod(conf, 0o666)
            out[service] = {
                "command": ["redis-server", f"{CONTAINER_DIR}/sentinel.conf", "--sentinel"],
                "volumes": [f"{folder}:{CONTAINER_DIR}"],
                # An image's own healthcheck asks the server port; the probe
                # checks the Sentinel itself.
                "healthcheck": {"disable": True},
            }
        return out


class SentinelProbe:
    description = ("SENTINEL get-master-addr-by-name on every Sentinel, master not down, "
                   "PING + ROLE master at that address")

    def check(self, endpoint: Endpoint) -> None:
        name = endpoint.database or ""
        for host, port in [_split(n) for n in (endpoint.nodes or (endpoint.address,))]:
            sentinel = redis_client(host, port)
            try:
                addr = sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
                if not addr:
                    raise RuntimeError(f"sentinel {host}:{port} knows no master {name!r}")
                state = sentinel.execute_command("SENTINEL", "MASTER", name)
            finally:
                sentinel.close()
            fields = dict(zip(state[::2], state[1::2], strict=True)) if isinstance(
                state, list) else dict(state)
            flags = str(fields.get("flags", ""))
            if "down" in flags or "disconnected" in flags:
                raise RuntimeError(f"sentinel {host}:{port} flags master {name!r}: {flags}")
            master = redis_client(str(addr[0]), int(addr[1]))
            try:
                role = master.execute_command("ROLE")
            finally:
                master.close()
            if not role or role[0] != "master":
                raise RuntimeError(f"{addr[0]}:{addr[1]} answers role {role!r}, not master")
