"""A Redis Cluster: ``masters`` cluster-enabled servers sharing the 16384 slots.

Declared as ``redis("cache", topology="cluster")``. The nodes are started as
plain cluster-enabled servers on every backend; the cluster is formed by the
wait stage's first contact (:class:`ClusterProbe`): ``CLUSTER SET-CONFIG-EPOCH``,
``CLUSTER MEET`` through the addresses the nodes reach one another by, one
``CLUSTER ADDSLOTSRANGE`` per node; then it is ready when every node says
``cluster_state:ok`` with all slots assigned and knows every node. Forming it
there, with redis-py, needs no ``redis-cli`` in the image and no one-shot init
container (``compose up --wait`` fails when one exits, docker/compose#10596).

Where the suite and the nodes see different addresses (compose: the host sees
published ports, the nodes see container addresses), each node announces the
address the suite sees (``cluster-announce-hostname`` with
``cluster-preferred-endpoint-type hostname``, and ``cluster-announce-port``):
``MOVED`` redirects and ``CLUSTER SLOTS`` then point a client on the host at
ports it can reach, while the cluster bus keeps the container addresses.
Redis 7.0+ (or Valkey) is needed for that; locally every address is the same.

Masters only, no replicas: replicas would replicate through the announced
client port, which containers cannot reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ci.endpoints import Endpoint
from ci.kinds.base import LocalServers, LocalStart
from ci.kinds.redis import STOP_SIGNAL, Redis, redis_client, side_ports

if TYPE_CHECKING:
    from ci.backing import Backing
    from ci.probes.base import Probe

SLOTS = 16384
SERVER_FLAGS = ("--cluster-enabled", "yes", "--cluster-node-timeout", "5000",
                "--save", "", "--appendonly", "no", "--protected-mode", "no")


@dataclass(frozen=True)
class RedisCluster(Redis):
    name: ClassVar[str] = "redis-cluster"

    masters: int = 3
    topology: str = "cluster"

    def problems(self, backing: Backing) -> list[str]:
        found = super().problems(backing)
        if self.masters < 3:
            found.append(f"redis({backing.name!r}, topology='cluster'): masters={self.masters};"
                         " a Redis Cluster needs at least 3 masters")
        return found

    def env(self, ep: Endpoint) -> dict[str, str]:
        return {"REDIS_CLUSTER_NODES": ",".join(ep.nodes), "REDIS_CLUSTER_HOST": ep.host,
                "REDIS_CLUSTER_PORT": str(ep.port), "REDIS_CLUSTER_URL": self.url(ep)}

    def probe(self) -> Probe:
        return ClusterProbe(self.masters)

    def start_local(self, backing: Backing, start: LocalStart) -> LocalServers:
        from ci.backends.local.processes import spawn

        binary = _binary_or_fail(backing, start)
        # Side ports, and a bus port per node (--cluster-port, not port+10000,
        # which is past 65535 for a port from the ephemeral range).
        side = side_ports(2 * self.masters - 1, start.host, avoid={start.port})
        ports = (start.port, *side[: self.masters - 1])
        bus_ports = side[self.masters - 1:]
        children = []
        for i, (port, bus) in enumerate(zip(ports, bus_ports, strict=True)):
            log = start.log if i == 0 else start.workdir / f"node-{port}.log"
            argv = [str(binary), "--port", str(port), "--bind", start.host,
                    "--cluster-port", str(bus), "--dir", str(start.workdir),
                    "--cluster-config-file", f"nodes-{port}.conf", "--daemonize", "no",
                    *SERVER_FLAGS]
            children.append(spawn(f"{backing.name}-{port}", argv, log=log, env=start.env,
                                  stop_signal=STOP_SIGNAL))
        peers = tuple(f"{start.host}:{p}@{b}" for p, b in zip(ports, bus_ports, strict=True))
        return LocalServers(tuple(children), ports, peers)

    # -- compose: one service per node, <name>, <name>-1, <name>-2 ---------------
    def compose_services(self, backing: Backing) -> tuple[str, ...]:
        base = backing.compose_name
        return (base, *(f"{base}-{i}" for i in range(1, self.masters)))

    def compose_nodes(self, backing: Backing) -> tuple[str, ...]:
        return self.compose_services(backing)

    def compose_override(self, backing: Backing, workdir: Path) -> dict[str, dict[str, Any]]:
        command = ["redis-server", "--port", str(backing.default_port), "--bind", "0.0.0.0",
                   "--dir", "/tmp", *SERVER_FLAGS]
        return {service: {"command": command} for service in self.compose_services(backing)}


def _binary_or_fail(backing: Backing, start: LocalStart) -> Path:
    from ci.errors import ConfigError

    if start.binary is None:  # only with command=, which problems() reports first
        raise ConfigError(f"backend {backing.name}: a Redis topology is started by the "
                          "framework and takes no command=")
    return start.binary.path


class ClusterProbe:
    def __init__(self, masters: int) -> None:
        self.masters = masters
        self.description = (f"CLUSTER INFO ok on {masters} nodes, {SLOTS} slots assigned "
                            "(formed on first contact)")

    def check(self, endpoint: Endpoint) -> None:
        nodes = [_split(n) for n in endpoint.nodes]
        peer_text = list(endpoint.peers or endpoint.nodes)
        peers = [_split(n) for n in peer_text]
        if len(nodes) != self.masters:
            raise RuntimeError(f"{len(nodes)} nodes known, {self.masters} declared")
        clients = [redis_client(host, port) for host, port in nodes]
        try:
            infos = [c.cluster("INFO") for c in clients]
            problems = [f"node {n[0]}:{n[1]}: {_problem(info, self.masters)}"
                        for n, info in zip(nodes, infos, strict=True)
                        if _problem(info, self.masters)]
            if not problems:
                return
            if any(int(info.get("cluster_known_nodes", 0)) < self.masters for info in infos):
                _form(clients, nodes, peers, [_bus(p) for p in peer_text], infos)
            raise RuntimeError("; ".join(problems))
        finally:
            for c in clients:
                c.close()


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.partition("@")[0].rpartition(":")
    return host, int(port)


def _bus(address: str) -> list[int]:
    """The cluster bus port in ``host:port@bus``, as MEET's optional argument."""
    _, at, bus = address.partition("@")
    return [int(bus)] if at else []


def _problem(info: dict[str, Any], masters: int) -> str:
    if str(info.get("cluster_enabled", "1")) == "0":
        return "cluster mode is off (--cluster-enabled yes missing)"
    if info.get("cluster_state") != "ok":
        return f"cluster_state:{info.get('cluster_state')}"
    if int(info.get("cluster_slots_assigned", 0)) != SLOTS:
        return f"{info.get('cluster_slots_assigned')} of {SLOTS} slots assigned"
    if int(info.get("cluster_known_nodes", 0)) != masters:
        return f"knows {info.get('cluster_known_nodes')} of {masters} nodes"
    return ""


def _form(clients: list[Any], nodes: list[tuple[str, int]], peers: list[tuple[str, int]],
          buses: list[list[int]], infos: list[dict[str, Any]]) -> None:
    """Announce, meet, assign slots: each step is a no-op when already done."""
    for i, (client, info) in enumerate(zip(clients, infos, strict=True)):
        if nodes[i] != peers[i]:
            client.config_set("cluster-announce-hostname", nodes[i][0])
            client.config_set("cluster-preferred-endpoint-type", "hostname")
            client.config_set("cluster-announce-port", str(nodes[i][1]))
        if int(info.get("cluster_known_nodes", 0)) == 1 and int(
                info.get("cluster_current_epoch", 0)) == 0:
            client.execute_command("CLUSTER", "SET-CONFIG-EPOCH", i + 1)
    for (host, port), bus in zip(peers[1:], buses[1:], strict=True):
        clients[0].execute_command("CLUSTER", "MEET", host, port, *bus)
    count = len(clients)
    for i, client in enumerate(clients):
        mine = [line for line in str(client.execute_command("CLUSTER", "NODES")).splitlines()
                if "myself" in line]
        if mine and len(mine[0].split()) > 8:
            continue  # this node already serves its slots
        first, last = SLOTS * i // count, SLOTS * (i + 1) // count - 1
        client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
