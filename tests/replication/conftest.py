"""A replicated Redis of one test's own: a primary, one replica and three Sentinels
(quorum 2) on free ports, with short down-after and failover timeouts, so a failover
takes a few seconds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from devstack.services import ManagedProcess, free_port, start_redis, start_sentinel

MASTER = "hotmaster"
HOST = "127.0.0.1"


def _client(port: int) -> redis.Redis:
    return redis.Redis(
        host=HOST,
        port=port,
        socket_timeout=2,
        socket_connect_timeout=2,
        retry=Retry(NoBackoff(), 0),
    )


class ReplicatedRedis:
    """Two redis-servers (either may be the primary) and three Sentinels watching them."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.ports = [free_port(), free_port()]
        self.servers: dict[int, ManagedProcess] = {}
        self.sentinels: list[ManagedProcess] = []
        self.primary_port = self.ports[0]
        self._start_server(self.ports[0])
        self._start_server(self.ports[1], replica_of=self.ports[0])
        for i in range(3):
            self.sentinels.append(
                start_sentinel(
                    free_port(),
                    data_dir / f"sentinel{i}",
                    master=MASTER,
                    master_port=self.ports[0],
                    quorum=2,
                    down_after_ms=1000,
                    failover_timeout_ms=3000,
                )
            )

    def _start_server(self, port: int, replica_of: int | None = None) -> None:
        # Every write fsynced before it is answered: a SIGKILL loses only what did not
        # reach the replica, which is what the failover tests measure.
        extra = ["--appendfsync", "always"]
        if replica_of is not None:
            extra += ["--replicaof", HOST, str(replica_of)]
        self.servers[port] = start_redis(port, self.data_dir / f"redis{port}", extra_args=extra)

    @property
    def sentinel_addresses(self) -> str:
        return ",".join(f"{HOST}:{s.port}" for s in self.sentinels)

    @property
    def replica_port(self) -> int:
        return next(p for p in self.ports if p != self.primary_port)

    def env(self) -> dict[str, str]:
        """The settings of a process that finds the primary through the Sentinels."""
        return {
            "SCHEDULES_REDIS_SENTINELS": self.sentinel_addresses,
            "SCHEDULES_REDIS_SENTINEL_MASTER": MASTER,
            # Only the database number is taken from it in Sentinel mode.
            "REDIS_URL": f"redis://{HOST}:1/0",
        }

    def replicas_in_sync(self) -> bool:
        """The primary has its replica online, and every Sentinel knows both and the
        other Sentinels (so it can vote in a failover)."""
        try:
            info = _client(self.primary_port).info("replication")
            replica = info.get("slave0")
            if info.get("role") != "master" or info.get("connected_slaves") != 1:
                return False
            if not isinstance(replica, dict) or replica.get("state") != "online":
                return False
            for s in self.sentinels:
                state = _client(s.port).sentinel_master(MASTER)
                if (
                    state["port"] != self.primary_port
                    or state["num-slaves"] != 1
                    or state["num-other-sentinels"] != 2
                    or state["is_sdown"]
                ):
                    return False
            replicas = _client(self.sentinels[0].port).sentinel_slaves(MASTER)
            return any(r["port"] == self.replica_port and not r["is_sdown"] for r in replicas)
        except redis.RedisError:
            return False

    def kill_primary(self) -> int:
        """SIGKILL the primary; returns its port."""
        port = self.primary_port
        proc = self.servers.pop(port)
        proc.process.kill()
        proc.process.wait()
        return port

    def promoted(self, old_port: int) -> bool:
        """Every Sentinel names the other server as primary, and it says it is one."""
        new = next(p for p in self.ports if p != old_port)
        try:
            for s in self.sentinels:
                _, port = _client(s.port).sentinel_get_master_addr_by_name(MASTER)
                if int(port) != new:
                    return False
            if _client(new).info("replication").get("role") != "master":
                return False
        except redis.RedisError:
            return False
        self.primary_port = new
        return True

    def restart_as_replica(self, port: int) -> None:
        """Start the killed server again as the replica of the current primary (what the
        Sentinels would make of it anyway)."""
        self._start_server(port, replica_of=self.primary_port)

    def stop_replica(self) -> None:
        self.servers.pop(self.replica_port).stop()

    def start_replica(self) -> None:
        self._start_server(self.replica_port, replica_of=self.primary_port)

    def stop(self) -> None:
        for proc in [*self.sentinels, *self.servers.values()]:
            proc.stop()


@pytest.fixture
def replicated_redis(tmp_path: Path) -> Iterator[ReplicatedRedis]:
    cluster = ReplicatedRedis(tmp_path / "replicated")
    yield cluster
    cluster.stop()
