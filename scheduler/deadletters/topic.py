"""A bounded read of the dead-letter topic.

Each listing or replay opens its own consumer with no consumer group (`group_id=None`:
nothing is committed, no group rebalances, the topic's other readers are untouched),
assigns itself every partition, reads a window of offsets that it computes first and
closes. The window: from `since` (the broker's offsets_for_times) or the start of the
partition, to `until` or the end as it was when the read began; when that is more than
SCHEDULES_DEAD_LETTER_SCAN_LIMIT messages, only the newest ones (the limit shared evenly
by the partitions), and the answer says it is not complete. The whole read is bounded in
time too (READ_SECONDS).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from scheduler.errors import ServiceUnavailable
from scheduler.settings import Settings

log = logging.getLogger(__name__)

READ_SECONDS = 10.0
_WAIT_MS = 1000  # a poll for records known to be there
_POLL_MS = 300  # a poll past the end offsets: nothing in that long means nothing more


@dataclass(slots=True)
class Scan:
    records: list[Any] = field(default_factory=list)
    scanned: int = 0
    complete: bool = True


class DeadLetterTopic:
    def __init__(self, settings: Settings, *, scan_limit: int) -> None:
        self.settings = settings
        self.topic = settings.dead_letter_topic
        self.scan_limit = scan_limit

    @contextlib.asynccontextmanager
    async def _consumer(self) -> AsyncIterator[AIOKafkaConsumer]:
        s = self.settings
        consumer = AIOKafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap_servers,
            group_id=None,  # no group: nothing committed, nobody else's partitions moved
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,  # a fetch at the end comes back empty soon
            request_timeout_ms=max(s.kafka_request_timeout_ms, 5000),
            client_id=f"hybrid-scheduler-dead-letters-{s.node_id or 'node'}",
        )
        try:
            await asyncio.wait_for(consumer.start(), READ_SECONDS)
        except Exception as exc:
            with contextlib.suppress(Exception):
                await consumer.stop()
            raise ServiceUnavailable(
                f"Kafka at {s.kafka_bootstrap_servers} is unreachable: {exc or type(exc).__name__}"
            ) from exc
        try:
            yield consumer
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), READ_SECONDS)

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        topics = await asyncio.wait_for(consumer.topics(), READ_SECONDS)
        if self.topic not in topics:
            return []  # nothing was ever dead-lettered here
        parts = consumer.partitions_for_topic(self.topic) or set()
        return [TopicPartition(self.topic, p) for p in sorted(parts)]

    async def scan(self, since_ms: int | None = None, until_ms: int | None = None) -> Scan:
        """The messages dead-lettered in [since, until] (as far as the bound allows)."""
        try:
            async with self._consumer() as consumer:
                return await asyncio.wait_for(
                    self._scan(consumer, since_ms, until_ms), READ_SECONDS * 2
                )
        except (TimeoutError, ConnectionError) as exc:
            raise ServiceUnavailable(f"reading {self.topic} timed out: {exc}") from exc

    async def _scan(
        self, consumer: AIOKafkaConsumer, since_ms: int | None, until_ms: int | None
    ) -> Scan:
        tps = await self._partitions(consumer)
        if not tps:
            return Scan()
        consumer.assign(tps)
        start: dict[TopicPartition, int] = await consumer.beginning_offsets(tps)
        end: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        if since_ms is not None:
            found = await consumer.offsets_for_times(dict.fromkeys(tps, max(0, since_ms)))
            for tp in tps:
                start[tp] = end[tp] if found.get(tp) is None else max(start[tp], found[tp].offset)
        stop: dict[TopicPartition, int | None] = dict.fromkeys(tps)
        if until_ms is not None:
            later = await consumer.offsets_for_times(dict.fromkeys(tps, max(0, until_ms + 1)))
            for tp in tps:
                if later.get(tp) is not None:
                    stop[tp] = later[tp].offset
        result = Scan()
        budget = max(1, self.scan_limit // len(tps))
        todo = set()
        for tp in tps:
            last = end[tp] if stop[tp] is None else min(end[tp], stop[tp] or 0)
            if last - start[tp] > budget:
                start[tp] = last - budget  # the newest ones
                result.complete = False
            if stop[tp] is None or start[tp] < (stop[tp] or 0):
                consumer.seek(tp, start[tp])
                todo.add(tp)
        # Read on to the end that is there, not the end offsets said: some brokers
        # (Tansu) answer a high watermark one record batch short. A poll that brings
        # nothing means every partition left is read to its end.
        taken = dict.fromkeys(tps, 0)
        while todo:
            behind = [tp for tp in todo if await consumer.position(tp) < end[tp]]
            batches = await consumer.getmany(*todo, timeout_ms=_WAIT_MS if behind else _POLL_MS)
            if not batches and not behind:
                break
            for tp, records in batches.items():
                for rec in records:
                    if rec.offset >= start[tp] and (stop[tp] is None or rec.offset < stop[tp]):
                        result.records.append(rec)
                        taken[tp] += 1
                result.scanned += len(records)
                if taken[tp] >= 2 * budget:
                    todo.discard(tp)
                    result.complete = False
                elif stop[tp] is not None and await consumer.position(tp) >= (stop[tp] or 0):
                    todo.discard(tp)
        return result

    async def fetch(self, wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], Any]:
        """The messages at these (partition, offset) places; absent ones are left out."""
        places = sorted(set(wanted))
        if not places:
            return {}
        try:
            async with self._consumer() as consumer:
                return await asyncio.wait_for(self._fetch(consumer, places), READ_SECONDS * 2)
        except (TimeoutError, ConnectionError) as exc:
            raise ServiceUnavailable(f"reading {self.topic} timed out: {exc}") from exc

    async def _fetch(
        self, consumer: AIOKafkaConsumer, places: list[tuple[int, int]]
    ) -> dict[tuple[int, int], Any]:
        tps = {tp.partition: tp for tp in await self._partitions(consumer)}
        places = [(p, o) for p, o in places if p in tps]
        if not places:
            return {}
        assigned = sorted({tps[p] for p, _ in places})
        consumer.assign(assigned)
        begin = await consumer.beginning_offsets(assigned)
        end = await consumer.end_offsets(assigned)
        found: dict[tuple[int, int], Any] = {}
        wanted = set(places)
        for p, o in places:
            tp = tps[p]
            # Not `o < end`: the end offsets may be one record batch short (see _scan).
            if (p, o) in found or o < begin[tp]:
                continue
            consumer.seek(tp, o)
            while await consumer.position(tp) <= o:
                behind = o < end[tp]  # it is there: wait for it
                batches = await consumer.getmany(tp, timeout_ms=_WAIT_MS if behind else _POLL_MS)
                if not batches and not behind:
                    break  # nothing there
                # Keep what came with it: the next wanted offsets may be among them.
                for rec in batches.get(tp, []):
                    if (p, rec.offset) in wanted:
                        found.setdefault((p, rec.offset), rec)
        return found
