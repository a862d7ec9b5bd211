"""Produce many messages as per-partition record batches, with one result per message.

aiokafka's `send()` costs a future, a callback and a Python-side partition lookup per
message; for a backlog of a million events that is a third of the executor's CPU. Here
messages are grouped by (topic, partition) and appended to record batches built in C,
with one future per batch. Partitioning is the Java client's (murmur2 of the key), so a
key lands where any other producer would put it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

# Record framing, on top of key + value + headers, that a message may need.
_RECORD_OVERHEAD = 128

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
# Little-endian 32-bit words of a key, by their number (keys are short; longer ones build
# their own).
_WORDS = [struct.Struct(f"<{n}I").unpack_from for n in range(64)]


def murmur2(data: bytes) -> int:
    """The Java client's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as
    aiokafka.partitioner.murmur2 computes it, at half its cost: the words are read in one
    struct call instead of byte by byte (tests/unit/test_produce.py compares the two)."""
    length = len(data)
    h = 0x9747B28C ^ length
    n = length >> 2
    words = _WORDS[n](data) if n < len(_WORDS) else struct.unpack_from(f"<{n}I", data)
    for k in words:
        k = (k * _M) & _MASK
        k = ((k ^ (k >> 24)) * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = length & 3
    if rest:
        i = length - rest
        if rest == 3:
            h ^= data[i + 2] << 16
        if rest >= 2:
            h ^= data[i + 1] << 8
        h = ((h ^ data[i]) * _M) & _MASK
    h = ((h ^ (h >> 13)) * _M) & _MASK
    return h ^ (h >> 15)


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]

    def size(self) -> int:
        n = len(self.key) + len(self.value) + _RECORD_OVERHEAD
        for k, v in self.headers:  # a loop: half the cost of sum() over a generator
            n += len(k) + len(v)
        return n


Result = float | BaseException  # broker ack time (Unix s), or why it was not delivered


class BatchProducer:
    def __init__(self, producer: AIOKafkaProducer, max_request_bytes: int) -> None:
        self.producer = producer
        self.max_request_bytes = max_request_bytes

    async def produce(
        self, messages: Sequence[Message], within: float, stamp: float | None = None
    ) -> list[Result]:
        """Send `messages`; one result each. Whatever is not acknowledged within `timeout`
        seconds gets a KafkaTimeoutError, so callers can act before their lease ends.
        `stamp`: the records' timestamp (Unix s; None: the producer's clock)."""
        timestamp = None if stamp is None else math.floor(stamp * 1000)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within

        def left() -> float:
            return max(0.001, deadline - loop.time())

        results: list[Result | None] = [None] * len(messages)
        groups: dict[tuple[str, int], list[int]] = {}
        partitions: dict[str, list[int] | BaseException] = {}
        for i, msg in enumerate(messages):
            if msg.topic not in partitions:
                try:
                    found = await asyncio.wait_for(self.producer.partitions_for(msg.topic), left())
                    partitions[msg.topic] = sorted(found)
                except Exception as exc:  # metadata unavailable: broker down, bad topic
                    partitions[msg.topic] = _as_kafka_error(exc)
            parts = partitions[msg.topic]
            if isinstance(parts, BaseException):
                results[i] = parts
            elif msg.size() > self.max_request_bytes:
                results[i] = MessageSizeTooLargeError(
                    f"message of ~{msg.size()} bytes exceeds max_request_size "
                    f"{self.max_request_bytes}"
                )
            else:
                p = parts[(murmur2(msg.key) & 0x7FFFFFFF) % len(parts)]
                groups.setdefault((msg.topic, p), []).append(i)
        sent: list[tuple[asyncio.Future[object], list[int]]] = []
        for (topic, partition), members in groups.items():
            batch = self.producer.create_batch()
            in_batch: list[int] = []
            for i in members:
                msg = messages[i]
                if not batch.append(
                    key=msg.key, value=msg.value, timestamp=timestamp, headers=msg.headers
                ):
                    # Full: ship it and start the next one (the first record always fits).
                    sent += await self._ship(batch, topic, partition, in_batch, results, left())
                    batch, in_batch = self.producer.create_batch(), []
                    batch.append(
                        key=msg.key, value=msg.value, timestamp=timestamp, headers=msg.headers
                    )
                in_batch.append(i)
            sent += await self._ship(batch, topic, partition, in_batch, results, left())
        for fut, members in sent:
            fut.add_done_callback(functools.partial(_settle, members=members, results=results))
        if sent:
            await asyncio.wait([f for f, _ in sent], timeout=left())
        for fut, members in sent:
            if fut.done() and results[members[0]] is None:
                _settle(fut, members=members, results=results)
        if any(isinstance(r, BaseException) or r is None for r in results):
            # Partitions may have moved, or a topic been re-created with other partitions:
            # refresh now, or the next attempt routes by the same stale metadata.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.producer.client.force_metadata_update(), left())
        late = KafkaTimeoutError(f"not acknowledged within {within:.1f}s")
        # A copy: acknowledgements arriving after the deadline must not change the answer.
        return [late if r is None else r for r in results]

    async def _ship(
        self,
        batch: Any,
        topic: str,
        partition: int,
        members: list[int],
        results: list[Result | None],
        within: float,
    ) -> list[tuple[asyncio.Future[object], list[int]]]:
        try:
            fut = await asyncio.wait_for(
                self.producer.send_batch(batch, topic, partition=partition), within
            )
        except Exception as exc:  # no room in the producer's buffer, metadata timeout
            for i in members:
                results[i] = _as_kafka_error(exc)
            return []
        return [(fut, members)]


def _as_kafka_error(exc: BaseException) -> BaseException:
    """asyncio's TimeoutError from our own deadline means the broker did not answer."""
    if isinstance(exc, TimeoutError):
        timed_out: BaseException = KafkaTimeoutError("the broker did not answer in time")
        return timed_out
    return exc


def _settle(
    fut: asyncio.Future[object], *, members: list[int], results: list[Result | None]
) -> None:
    """Record the batch's outcome for each of its messages, at the moment it is known."""
    outcome: Result
    if fut.cancelled():
        outcome = asyncio.CancelledError()
    else:
        exc = fut.exception()
        outcome = time.time() if exc is None else exc
    for i in members:
        results[i] = outcome
