"""Redis topologies as kinds: declaration, env names, compose mapping, and the local
backend's contract for kinds of several processes (tracked, watched, stopped)."""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from ci import Service, redis
from ci.backends.local.backend import OWNER_FILE, LocalBackend
from ci.backends.local.processes import spawn
from ci.backing import Backing
from ci.console import Console
from ci.endpoints import Endpoint, suite_env
from ci.errors import BackendDied, ConfigError
from ci.keep import KeptRun
from ci.kinds import KINDS
from ci.kinds.base import Kind, LocalServers, LocalStart
from ci.kinds.redis import Redis
from ci.kinds.redis_cluster import ClusterProbe, RedisCluster, _bus, _problem, _split
from ci.kinds.redis_sentinel import RedisSentinel
from ci.ports import free_ports, port_is_free
from ci.runinfo import RunInfo


def test_topology_selects_its_kind_and_a_server_new_enough() -> None:
    assert type(redis("r").kind) is Redis and redis("r").min_version is None
    cluster = redis("c", topology="cluster", masters=4)
    assert cluster.kind == RedisCluster(masters=4) and cluster.kind_name == "redis-cluster"
    assert cluster.min_version == "7.0"
    assert redis("c", topology="cluster", min_version="7.2").min_version == "7.2"
    ha = redis("ha", topology="sentinel", sentinels=3, master_name="main")
    assert ha.kind == RedisSentinel(sentinels=3, master_name="main")
    assert ha.default_port == 26379 and ha.kind.quorum == 2  # type: ignore[attr-defined]
    assert KINDS["redis-cluster"][0] is RedisCluster
    assert KINDS["redis-sentinel"][0] is RedisSentinel


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"topology": "ring"}, "unknown topology 'ring'"),
    ({"topology": "cluster", "masters": 2}, "at least 3 masters"),
    ({"topology": "sentinel", "sentinels": 0}, "at least one"),
    ({"topology": "cluster", "command": ["redis-server"]}, "takes no command="),
    ({"topology": "sentinel", "min_version": "6.2"}, "needs 7.0 or newer"),
])
def test_impossible_topologies_are_reported_before_anything_starts(
        tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    backing = redis("x", **kwargs)  # type: ignore[arg-type]  # a factory never raises
    root = tmp_path / "services" / "svc"
    root.mkdir(parents=True)
    service = Service(root=root, backends=[backing, redis("fine")], migrations=None)
    [problem] = service.problems()
    assert message in problem
    with pytest.raises(ConfigError, match="is not valid"):
        service.validate()


def test_cluster_env_names_every_node() -> None:
    ep = redis("cache", topology="cluster").endpoint(
        "127.0.0.1", 7001, nodes=("127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"))
    env = suite_env({"cache": ep}, {})
    assert env["REDIS_CLUSTER_NODES"] == "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"
    assert env["CACHE_NODES"] == env["REDIS_CLUSTER_NODES"]
    assert env["REDIS_CLUSTER_URL"] == "redis://127.0.0.1:7001/0"
    assert "REDIS_URL" not in env  # the single-server name stays for a single server


def test_sentinel_env_and_url_carry_the_master_name() -> None:
    ep = redis("ha", topology="sentinel", master_name="main").endpoint(
        "127.0.0.1", 26001, nodes=("127.0.0.1:26001", "127.0.0.1:26002"))
    assert ep.database == "main"
    env = suite_env({"ha": ep, "plain": redis("plain").endpoint("127.0.0.1", 6400)}, {})
    assert env["REDIS_SENTINEL_MASTER"] == "main"
    assert env["REDIS_SENTINEL_NODES"] == "127.0.0.1:26001,127.0.0.1:26002"
    assert env["REDIS_SENTINEL_URL"] == "redis+sentinel://127.0.0.1:26001,127.0.0.1:26002/main"
    assert env["REDIS_URL"] == "redis://127.0.0.1:6400/0"


def test_nodes_survive_a_kept_run_file() -> None:
    ep = Endpoint("c", "redis-cluster", "127.0.0.1", 1, nodes=("a:1", "b:2"), peers=("x:1@9",))
    back = KeptRun.from_json(json.loads(json.dumps(
        KeptRun("r", "s", "local", {"c": ep}, "down").to_json())))
    assert back.endpoints["c"] == ep


def test_compose_mapping_of_a_cluster(tmp_path: Path) -> None:
    backing = redis("cache", topology="cluster", compose_service="rc")
    kind = backing.kind
    assert kind.compose_services(backing) == ("rc", "rc-1", "rc-2")
    assert kind.compose_nodes(backing) == ("rc", "rc-1", "rc-2")
    override = kind.compose_override(backing, tmp_path)
    assert set(override) == {"rc", "rc-1", "rc-2"}
    command = override["rc-2"]["command"]
    assert command[0] == "redis-server" and "--cluster-enabled" in command


def test_compose_mapping_of_a_sentinel_writes_its_config(tmp_path: Path) -> None:
    backing = redis("ha", topology="sentinel", sentinels=2, master_name="main")
    kind = backing.kind
    assert kind.compose_nodes(backing) == ("ha", "ha-1")
    assert kind.compose_services(backing) == ("ha", "ha-1", "ha-master")
    override = kind.compose_override(backing, tmp_path)
    assert override["ha"]["command"][-1] == "--sentinel"
    assert override["ha"]["healthcheck"] == {"disable": True}
    host_dir, _, mounted = override["ha-1"]["volumes"][0].rpartition(":")
    conf = (Path(host_dir) / "sentinel.conf").read_text()
    assert "sentinel resolve-hostnames yes" in conf
    assert "sentinel monitor main ha-master 6379 2" in conf
    assert conf.index("resolve-hostnames") < conf.index("sentinel monitor")
    assert Path(host_dir).stat().st_mode & 0o777 == 0o777
    assert mounted == "/tiers-sentinel"


def test_free_ports_are_distinct_free_and_avoid_the_taken() -> None:
    ports = free_ports(8, avoid={1})
    assert len(set(ports)) == 8 and 1 not in ports
    assert all(port_is_free(p) for p in ports)


def test_addresses_and_cluster_states() -> None:
    assert _split("10.0.0.2:6379@16379") == ("10.0.0.2", 6379) and _bus("h:1@2") == [2]
    assert _bus("h:1") == []
    ok = {"cluster_state": "ok", "cluster_slots_assigned": "16384", "cluster_known_nodes": "3"}
    assert _problem(ok, 3) == ""
    assert "slots" in _problem({**ok, "cluster_slots_assigned": "5461"}, 3)
    assert "cluster_state:fail" in _problem({**ok, "cluster_state": "fail"}, 3)
    assert "knows 1 of 3" in _problem({**ok, "cluster_known_nodes": "1"}, 3)
    assert "cluster-enabled" in _problem({"cluster_enabled": "0"}, 3)
    with pytest.raises(RuntimeError, match="2 nodes known, 3 declared"):
        ClusterProbe(3).check(Endpoint("c", "redis-cluster", "h", 1, nodes=("h:1", "h:2")))


# -- the local backend and a kind of several processes ----------------------------
@dataclass(frozen=True)
class Pair(Kind):
    """Two sleeping processes: stands in for any topology."""

    name: ClassVar[str] = "pair"
    default_port: ClassVar[int] = 1

    def start_local(self, backing: Backing, start: LocalStart) -> LocalServers:
        children = tuple(
            spawn(f"{backing.name}-{i}", [sys.executable, "-c", "import time; time.sleep(60)"],
                  log=start.workdir / (f"node-{i}.log" if i else "server.log"), env=start.env)
            for i in range(2))
        return LocalServers(children, (start.port, start.port + 1))


def test_local_backend_tracks_watches_and_stops_every_process(tmp_path: Path) -> None:
    root = tmp_path / "services" / "svc"
    root.mkdir(parents=True)
    backing = Backing("pair", Pair())
    service = Service(root=root, backends=[backing], migrations=None)
    backend = LocalBackend(service, RunInfo("svc", tmp_path), Console(stream=io.StringIO()))
    backend.up()
    try:
        workdir = backend._workdirs["pair"]
        state = json.loads((workdir / OWNER_FILE).read_text())
        pids = [c.pid for c in backend._children["pair"]]
        assert [p["pid"] for p in state["processes"]] == pids and len(pids) == 2
        assert all(p["start"] for p in state["processes"])
        ep = backend.endpoint(backing)
        assert ep.nodes == (f"127.0.0.1:{ep.port}", f"127.0.0.1:{ep.port + 1}")
        backend.check_alive(backing)
        os.kill(pids[1], signal.SIGKILL)
        deadline = time.monotonic() + 5
        with pytest.raises(BackendDied, match=rf"{pids[1]} \(pair-1\)"):
            while time.monotonic() < deadline:
                backend.check_alive(backing)
                time.sleep(0.02)
        logs = backend.collect(tmp_path / "logs", failed=True)
        assert sorted(p.name for p in logs) == ["pair-node-1.log", "pair.log"]
    finally:
        backend.down()
    assert not workdir.exists()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
