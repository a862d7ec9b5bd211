"""Which producer failures are the broker's (trip the breaker, no attempt counted), which
are worth retrying, which are permanent (dead-letter now); and what BatchProducer
(scheduler/hot/produce.py) reports per message. The producer is a stand-in: no broker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    InvalidTopicError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    LeaderNotAvailableError,
    MessageSizeTooLargeError,
    NodeNotReadyError,
    NotLeaderForPartitionError,
    PolicyViolationError,
    RecordListTooLargeError,
    RequestTimedOutError,
    TopicAuthorizationFailedError,
    UnknownError,
    UnknownTopicOrPartitionError,
    UnsupportedForMessageFormatError,
    UnsupportedVersionError,
)
from aiokafka.partitioner import DefaultPartitioner

from scheduler.hot.produce import BatchProducer, Message, _as_kafka_error
from scheduler.kafka import is_retryable, is_timeout, is_unavailable

UNAVAILABLE = [
    KafkaConnectionError("connection refused"),
    NodeNotReadyError("node 1 not ready"),
    KafkaTimeoutError("no answer"),
    RequestTimedOutError(),
]
PERMANENT = [
    MessageSizeTooLargeError(),
    RecordListTooLargeError(),
    InvalidTopicError(),
    TopicAuthorizationFailedError(),
    ClusterAuthorizationFailedError(),
    PolicyViolationError(),
    UnsupportedVersionError(),
    UnsupportedForMessageFormatError(),
]
# The broker answered, but not this time: retried with backoff, attempt counted.
TRANSIENT = [
    NotLeaderForPartitionError(),
    LeaderNotAvailableError(),
    UnknownTopicOrPartitionError(),  # e.g. a topic being created
    UnknownError(),  # a broker's generic error: never dead-letter good events for it
    KafkaError("something else"),
    RuntimeError("not even Kafka's"),
]


def name(exc: BaseException) -> str:
    return type(exc).__name__


@pytest.mark.parametrize("exc", UNAVAILABLE, ids=name)
def test_broker_unreachable_errors_are_unavailable_and_retryable(exc: BaseException) -> None:
    assert is_unavailable(exc)
    # An outage must never send events to the dead-letter topic.
    assert is_retryable(exc)


@pytest.mark.parametrize("exc", PERMANENT, ids=name)
def test_errors_that_certainly_fail_again_are_permanent(exc: BaseException) -> None:
    assert not is_retryable(exc)
    assert not is_unavailable(exc)


@pytest.mark.parametrize("exc", TRANSIENT, ids=name)
def test_other_errors_are_retried_but_do_not_trip_the_breaker(exc: BaseException) -> None:
    assert is_retryable(exc)
    assert not is_unavailable(exc)


@pytest.mark.parametrize("exc", [KafkaTimeoutError("no answer"), RequestTimedOutError()], ids=name)
def test_no_answer_in_time_is_a_timeout(exc: BaseException) -> None:
    assert is_timeout(exc)


@pytest.mark.parametrize(
    "exc",
    [
        KafkaConnectionError("connection refused"),  # refused is not slow
        NodeNotReadyError(),
        *PERMANENT,
        *TRANSIENT,
        # Decided by the exception's class, never by its text.
        UnknownError("the broker said KafkaTimeoutError"),
        TimeoutError(),  # asyncio's own: converted first (_as_kafka_error), see below
    ],
    ids=name,
)
def test_other_errors_are_not_timeouts(exc: BaseException) -> None:
    assert not is_timeout(exc)


def test_our_own_deadline_counts_as_the_broker_not_answering() -> None:
    converted = _as_kafka_error(TimeoutError())
    assert isinstance(converted, KafkaTimeoutError)
    assert is_unavailable(converted) and is_retryable(converted) and is_timeout(converted)
    other = NotLeaderForPartitionError()
    assert _as_kafka_error(other) is other


# --- BatchProducer against a stand-in producer --------------------------------------------


class FakeBatch:
    def __init__(self, room: int) -> None:
        self.room = room
        self.keys: list[bytes] = []

    def append(self, *, key: bytes, value: bytes, timestamp: None, headers: Any) -> object:
        if len(self.keys) >= self.room:
            return None  # full, as aiokafka's BatchBuilder says it
        self.keys.append(key)
        return object()


class FakeClient:
    def __init__(self) -> None:
        self.metadata_updates = 0

    async def force_metadata_update(self) -> bool:
        self.metadata_updates += 1
        return True


class FakeProducer:
    """partitions_for / create_batch / send_batch, with per-partition answers."""

    def __init__(self, partitions: dict[str, Any], batch_room: int = 1000) -> None:
        self.partitions = partitions  # topic -> partition ids, or the exception to raise
        self.batch_room = batch_room
        self.client = FakeClient()
        # (topic, partition) -> what its batches' futures get: None = ack, an exception,
        # or "hang" (never answered); send_raises: send_batch itself raises this.
        self.answers: dict[tuple[str, int], Any] = {}
        self.send_raises: BaseException | None = None
        self.shipped: list[tuple[str, int, list[bytes], asyncio.Future[object]]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        found = self.partitions[topic]
        if isinstance(found, BaseException):
            raise found
        return set(found)

    def create_batch(self) -> FakeBatch:
        return FakeBatch(self.batch_room)

    async def send_batch(self, batch: FakeBatch, topic: str, partition: int) -> asyncio.Future:
        if self.send_raises is not None:
            raise self.send_raises
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.shipped.append((topic, partition, list(batch.keys), fut))
        answer = self.answers.get((topic, partition))
        if answer is None:
            fut.set_result(object())
        elif isinstance(answer, BaseException):
            fut.set_exception(answer)
        return fut


def msg(key: str, topic: str = "t", size: int = 10) -> Message:
    return Message(topic, key.encode(), b"v" * size, [("h", b"1")])


def partition_of(key: str, partitions: list[int]) -> int:
    return int(DefaultPartitioner()(key.encode(), partitions, partitions))


async def test_every_message_acked_gets_its_ack_time_and_the_java_partition() -> None:
    fake = FakeProducer({"t": {2, 0, 1}})
    messages = [msg(f"k{i}") for i in range(30)]
    results = await BatchProducer(fake, 10_000).produce(messages, within=5.0)  # type: ignore[arg-type]
    assert all(isinstance(r, float) for r in results)
    placed = {key: p for _, p, keys, _ in fake.shipped for key in keys}
    assert placed == {m.key: partition_of(m.key.decode(), [0, 1, 2]) for m in messages}
    assert len(set(placed.values())) == 3  # spread, one batch per partition
    assert len(fake.shipped) == 3
    assert fake.client.metadata_updates == 0  # nothing failed: no refresh needed


async def test_a_full_batch_is_shipped_and_the_rest_go_in_the_next() -> None:
    fake = FakeProducer({"t": {0}}, batch_room=2)
    messages = [msg(f"k{i}") for i in range(5)]
    results = await BatchProducer(fake, 10_000).produce(messages, within=5.0)  # type: ignore[arg-type]
    assert [keys for _, _, keys, _ in fake.shipped] == [
        [b"k0", b"k1"],
        [b"k2", b"k3"],
        [b"k4"],
    ]
    assert all(isinstance(r, float) for r in results)


async def test_a_too_large_message_fails_alone_as_permanent() -> None:
    fake = FakeProducer({"t": {0}})
    messages = [msg("small"), msg("big", size=5_000), msg("small2")]
    results = await BatchProducer(fake, 1_000).produce(messages, within=5.0)  # type: ignore[arg-type]
    assert isinstance(results[0], float) and isinstance(results[2], float)
    assert isinstance(results[1], MessageSizeTooLargeError)
    assert not is_retryable(results[1])
    assert [keys for _, _, keys, _ in fake.shipped] == [[b"small", b"small2"]]


async def test_no_metadata_for_a_topic_fails_its_messages_only() -> None:
    fake = FakeProducer({"t": {0}, "gone": TimeoutError(), "down": KafkaConnectionError()})
    messages = [msg("a", "gone"), msg("b"), msg("c", "down"), msg("d", "gone")]
    results = await BatchProducer(fake, 10_000).produce(messages, within=5.0)  # type: ignore[arg-type]
    assert isinstance(results[1], float)
    # asyncio's TimeoutError (our deadline) becomes Kafka's, which trips the breaker.
    assert isinstance(results[0], KafkaTimeoutError) and isinstance(results[3], KafkaTimeoutError)
    assert isinstance(results[2], KafkaConnectionError)
    assert fake.client.metadata_updates == 1  # refreshed for the next attempt


async def test_a_failed_batch_fails_each_of_its_messages_with_the_brokers_error() -> None:
    fake = FakeProducer({"t": {0, 1, 2, 3}})
    keys = [f"k{i}" for i in range(40)]
    bad = partition_of(keys[0], [0, 1, 2, 3])
    fake.answers[("t", bad)] = NotLeaderForPartitionError()
    results = await BatchProducer(fake, 10_000).produce([msg(k) for k in keys], within=5.0)  # type: ignore[arg-type]
    for k, r in zip(keys, results, strict=True):
        if partition_of(k, [0, 1, 2, 3]) == bad:
            assert isinstance(r, NotLeaderForPartitionError), k
        else:
            assert isinstance(r, float), k


async def test_send_batch_refusing_fails_the_batch() -> None:
    fake = FakeProducer({"t": {0}})
    fake.send_raises = KafkaTimeoutError("buffer full")
    results = await BatchProducer(fake, 10_000).produce([msg("a"), msg("b")], within=5.0)  # type: ignore[arg-type]
    assert all(isinstance(r, KafkaTimeoutError) for r in results)


async def test_an_unanswered_batch_times_out_and_a_late_ack_changes_nothing() -> None:
    fake = FakeProducer({"t": {0, 1}})
    keys = [f"k{i}" for i in range(20)]
    hung = partition_of(keys[0], [0, 1])
    fake.answers[("t", hung)] = "hang"
    results = await BatchProducer(fake, 10_000).produce([msg(k) for k in keys], within=0.05)  # type: ignore[arg-type]
    late = [r for k, r in zip(keys, results, strict=True) if partition_of(k, [0, 1]) == hung]
    on_time = [r for k, r in zip(keys, results, strict=True) if partition_of(k, [0, 1]) != hung]
    assert late and all(isinstance(r, KafkaTimeoutError) for r in late)
    assert on_time and all(isinstance(r, float) for r in on_time)
    # The ack arrives after the answer was given: the caller already released the events.
    (fut,) = [f for _, p, _, f in fake.shipped if p == hung]
    fut.set_result(object())
    await asyncio.sleep(0)  # let the done-callbacks run
    assert all(
        isinstance(r, KafkaTimeoutError)
        for r, k in zip(results, keys, strict=True)
        if partition_of(k, [0, 1]) == hung
    )
