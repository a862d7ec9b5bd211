"""A Redis Cluster of the suite's own: three primaries with one replica each, on free
ports, with a short node timeout so a failover takes a few seconds."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

from devstack.services import ManagedProcess, start_redis, start_redis_cluster

HOST = "127.0.0.1"
NODE_TIMEOUT_MS = 2000
# Every write fsynced before it is answered: a SIGKILL loses only what no replica had.
NODE_ARGS = ["--appendfsync", "always"]


def _client(port: int) -> redis.Redis:
    return redis.Redis(
        host=HOST,
        port=port,
        socket_timeout=2,
        socket_connect_timeout=2,
        retry=Retry(NoBackoff(), 0),
    )


class RedisClusterProcs:
    """Six redis-servers forming one cluster; which are primaries changes on failover."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        nodes = start_redis_cluster(data_dir, node_timeout_ms=NODE_TIMEOUT_MS, extra_args=NODE_ARGS)
        self.nodes: dict[int, ManagedProcess] = {n.port: n for n in nodes}

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{next(iter(self.nodes))}/0"

    def env(self) -> dict[str, str]:
        return {"REDIS_URL": self.url, "SCHEDULES_REDIS_CLUSTER": "true"}

    def topology(self) -> dict[int, tuple[str, int | None]]:
        """port -> (role, port of its primary) as a live node reports them."""
        for port in self.nodes:
            try:
                raw = _client(port).execute_command("CLUSTER", "NODES")
            except redis.RedisError:
                continue
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
            ids: dict[str, int] = {}
            rows = []
            for line in text.splitlines():
                parts = line.split()
                node_port = int(parts[1].split("@")[0].rsplit(":", 1)[1])
                ids[parts[0]] = node_port
                rows.append((node_port, parts[2], parts[3]))
            return {
                p: (
                    "primary" if "master" in flags else "replica",
                    None if primary == "-" else ids.get(primary),
                )
                for p, flags, primary in rows
                if "fail" not in flags
            }
        raise AssertionError("no cluster node answers")

    def primary_of(self, key: str) -> int:
        """The port of the primary serving `key`'s slot now."""
        raw = _client(next(iter(self._alive()))).execute_command("CLUSTER", "SLOTS")
        slot = key_slot(key.encode())
        for start, end, primary, *_ in raw:
            if start <= slot <= end:
                return int(primary[1])
        raise AssertionError(f"no node serves slot {slot}")

    def _alive(self) -> list[int]:
        return [p for p, n in self.nodes.items() if n.alive()]

    def replica_of(self, primary: int) -> int:
        return next(p for p, (role, of) in self.topology().items() if of == primary)

    def healthy(self) -> bool:
        """Every live node says ok, and each primary has its replica online."""
        try:
            for port in self._alive():
                info = _client(port).cluster("info")
                if info["cluster_state"] != "ok":
                    return False
            topo = self.topology()
            primaries = [p for p, (role, _) in topo.items() if role == "primary"]
            for p in primaries:
                replica = _client(p).info("replication").get("slave0")
                if not isinstance(replica, dict) or replica.get("state") != "online":
                    return False
            return len(primaries) == 3 and len(topo) == 6
        except redis.RedisError:
            return False

    def cut_replica_then_kill_primary(self, primary: int, lag: float) -> int:
        """`primary`'s replica stops hearing from it (frozen, its link closed); `lag`
        seconds later the primary is SIGKILLed and the replica runs again (the cluster
        then promotes it). Returns the replica's port."""
        replica = self.replica_of(primary)
        proc = self.nodes[replica].process
        proc.send_signal(signal.SIGSTOP)
        try:
            _client(primary).client_kill_filter(_type="replica")
            time.sleep(lag)  # the writers keep writing meanwhile (other threads/loop)
            killed = self.nodes[primary].process
            killed.kill()
            killed.wait()
        finally:
            proc.send_signal(signal.SIGCONT)
        return replica

    def promoted(self, port: int) -> bool:
        try:
            return _client(port).info("replication").get("role") == "master" and all(
                _client(p).cluster("info")["cluster_state"] == "ok" for p in self._alive()
            )
        except redis.RedisError:
            return False

    def restart(self, port: int) -> None:
        """Start a killed node again (its nodes.conf brings it back into the cluster,
        as a replica of the node promoted in its place)."""
        args = ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf"]
        args += ["--cluster-node-timeout", str(NODE_TIMEOUT_MS), *NODE_ARGS]
        self.nodes[port] = start_redis(port, self.data_dir / f"node{port}", extra_args=args)

    def stop(self) -> None:
        for proc in self.nodes.values():
            proc.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterProcs]:
    cluster = RedisClusterProcs(tmp_path_factory.mktemp("redis-cluster"))
    yield cluster
    cluster.stop()
