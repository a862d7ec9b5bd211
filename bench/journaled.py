"""What the journaled ingest scenario (bench/deployed.py `ingest_journal`) needs besides
the plain one: the consumer's cold-tier settings, the consumer group's committed offsets
(the consumer commits an offset only once its events are in Redis and journaled), and
the journal's row count, read through the consumer process's read-only SQL endpoint
(chdb lets only that process open the data)."""

from __future__ import annotations

import asyncio
import os
import urllib.parse
import urllib.request
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from devstack.services import free_port


def main_thread_cpu_seconds(pid: int) -> float:
    """utime + stime of a process's main thread (the event loop), from /proc (Linux);
    the rest of its CPU is its other threads' (ClickHouse's inserts and merges)."""
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def journal_env(tmp: Path) -> dict[str, str]:
    """The cold tier as deployed without CLICKHOUSE_URL: the embedded engine at a data
    path of the process's own, migrated at start, its SQL endpoint on a free port."""
    return {
        "SCHEDULES_COLD_TIER_ENABLED": "true",
        "SCHEDULES_CLICKHOUSE_PATH": str(tmp / "clickhouse"),
        "SCHEDULES_CLICKHOUSE_AUTO_MIGRATE": "true",
        "SCHEDULES_CLICKHOUSE_SHIM_PORT": str(free_port()),
    }


class CommittedOffsets:
    """The committed offsets of one consumer group on one topic, summed over partitions.
    One client, not in the group (it never joins): it only asks the group coordinator."""

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        self.topic = topic
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
        self._partitions: list[TopicPartition] = []

    async def start(self) -> None:
        await self._consumer.start()
        await self._consumer._client.force_metadata_update()
        parts = self._consumer.partitions_for_topic(self.topic) or set()
        self._partitions = [TopicPartition(self.topic, p) for p in sorted(parts)]

    async def total(self) -> int:
        committed = 0
        for tp in self._partitions:
            committed += max(0, await self._consumer.committed(tp) or 0)
        return committed

    async def stop(self) -> None:
        await self._consumer.stop()


def _query(port: int, sql: str) -> str:
    url = f"http://127.0.0.1:{port}/?" + urllib.parse.urlencode({"query": sql})
    with urllib.request.urlopen(url, timeout=30) as reply:
        return str(reply.read().decode().strip())


async def journal_rows(env: dict[str, str]) -> dict[str, int]:
    """Rows of event_schedules_log by (status, tier), from the running process's endpoint."""
    port = int(env["SCHEDULES_CLICKHOUSE_SHIM_PORT"])
    sql = "SELECT status, tier, count() FROM event_schedules_log GROUP BY status, tier"
    text = await asyncio.to_thread(_query, port, sql)
    out = {}
    for line in text.splitlines():
        status, tier, n = line.split("\t")
        out[f"{status}/{tier}"] = int(n)
    return out
