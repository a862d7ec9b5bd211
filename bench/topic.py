"""Lateness from outside the product: the records an executor produced to a target topic,
read back once the firing is over (so no reader competes with it for the CPU).

A fired event's firing time is its Kafka record timestamp (CreateTime, set by the
executor's producer when it appends the record: whole milliseconds, rounded down). Its due
time travels in a header the bench sets, `bench-due-ms` (whole milliseconds), so
lateness = timestamp - due is exact to the millisecond and never negative unless the event
fired early.
"""

from __future__ import annotations

import time
from array import array
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.common import percentiles
from scheduler.kafka import make_producer
from scheduler.settings import Settings

DUE_HEADER = "bench-due-ms"
_LATENESS_PS = (50, 90, 99, 99.9)


@dataclass
class Fired:
    """What the target topic holds: per record its timestamp and due time (ms)."""

    timestamps_ms: array[int] = field(default_factory=lambda: array("q"))
    due_ms: array[int] = field(default_factory=lambda: array("q"))
    ids: set[bytes] = field(default_factory=set)
    duplicates: int = 0  # records of a schedule_id seen before
    no_due_header: int = 0
    timestamp_types: set[int] = field(default_factory=set)
    read_seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.timestamps_ms)

    def lateness_ms(self) -> list[int]:
        return [t - d for t, d in zip(self.timestamps_ms, self.due_ms, strict=True)]

    def worst_per_second(self) -> list[int]:
        """The largest lateness (ms) among the events due in each second of the run."""
        if not self.due_ms:
            return []
        start = min(self.due_ms)
        worst: dict[int, int] = {}
        for t, d in zip(self.timestamps_ms, self.due_ms, strict=True):
            second = (d - start) // 1000
            worst[second] = max(worst.get(second, t - d), t - d)
        return [worst.get(s, 0) for s in range(max(worst) + 1)]

    def firing_instants(self) -> dict[str, Any]:
        """How the events were fired: the executor appends a claimed batch's records at
        (nearly) one instant, so distinct record timestamps (ms) approximate its claims."""
        if not self.timestamps_ms:
            return {}
        instants = len(set(self.timestamps_ms))
        span = (max(self.timestamps_ms) - min(self.timestamps_ms)) / 1000 or 1.0
        return {
            "distinct_record_timestamps_ms": instants,
            "per_second": round(instants / span, 1),
            "events_per_instant": round(len(self) / instants, 1),
        }

    def summary(self) -> dict[str, Any]:
        late = self.lateness_ms()
        return {
            "fired": len(self),
            "lateness_ms": percentiles([float(x) for x in late], _LATENESS_PS),
            "early": sum(1 for x in late if x < 0),
            "duplicates": self.duplicates,
            "records_without_due_header": self.no_due_header,
            "timestamp_type": sorted(
                {0: "CreateTime", 1: "LogAppendTime"}.get(t, str(t)) for t in self.timestamp_types
            ),
            "firing_instants": self.firing_instants(),
            "seconds_to_read_topic": round(self.read_seconds, 2),
        }


async def broker_round_trip_ms(settings: Settings, topic: str, n: int = 50) -> dict[str, float]:
    """Percentiles of n sequential sends of one small record (the product's producer
    settings: acks=all, linger): what one produce-and-acknowledge costs on this broker."""
    producer = make_producer(settings)
    await producer.start()
    took: list[float] = []
    try:
        for i in range(n):
            t = time.perf_counter()
            await producer.send_and_wait(topic, b"x", key=str(i).encode())
            took.append((time.perf_counter() - t) * 1000)
    finally:
        await producer.stop()
    return {k: round(v, 2) for k, v in percentiles(took, (50, 90)).items()}


async def read_fired(bootstrap: str, topic: str, *, timeout: float = 300.0) -> Fired:
    """Every record on `topic`, from the beginning to the end offsets seen at the start."""
    started = time.perf_counter()
    fired = Fired()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=32 * 1024 * 1024,
    )
    await consumer.start()
    try:
        await consumer.topics()  # fetches the cluster's metadata
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            raise RuntimeError(f"topic {topic} does not exist")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        left = {tp for tp in tps if end[tp] > 0}
        deadline = time.monotonic() + timeout
        while left:
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {len(fired)} records of {topic} in {timeout}s")
            batches = await consumer.getmany(*left, timeout_ms=500, max_records=20_000)
            for tp, records in batches.items():
                for rec in records:
                    _add(fired, rec)
                    if rec.offset + 1 >= end[tp]:
                        left.discard(tp)
    finally:
        await consumer.stop()
    fired.read_seconds = time.perf_counter() - started
    return fired


def _add(fired: Fired, rec: Any) -> None:
    fired.timestamp_types.add(rec.timestamp_type)
    due = sid = None
    for name, value in rec.headers:
        if name == DUE_HEADER:
            due = int(value)
        elif name == "schedule_id":
            sid = value
    if due is None:
        fired.no_due_header += 1
        return
    if sid is not None:
        if sid in fired.ids:
            fired.duplicates += 1
        fired.ids.add(sid)
    fired.timestamps_ms.append(rec.timestamp)
    fired.due_ms.append(due)
