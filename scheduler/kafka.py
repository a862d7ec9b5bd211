"""Kafka clients built from Settings, topic creation, and producer error classification."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    InvalidTopicError,
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NodeNotReadyError,
    PolicyViolationError,
    RecordListTooLargeError,
    RequestTimedOutError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    UnknownError,
    UnsupportedForMessageFormatError,
    UnsupportedVersionError,
)

from scheduler.errors import ConfigError
from scheduler.settings import Settings

log = logging.getLogger(__name__)

# Room on top of the body for headers and record framing, so that any body we accept
# (SCHEDULES_MAX_BODY_BYTES) fits in one produce request.
_REQUEST_OVERHEAD = 64 * 1024

_TIMEOUTS = (KafkaTimeoutError, RequestTimedOutError)
_UNAVAILABLE = (KafkaConnectionError, NodeNotReadyError, *_TIMEOUTS)
_PERMANENT = (
    MessageSizeTooLargeError,  # too large for this producer or broker
    RecordListTooLargeError,
    InvalidTopicError,
    TopicAuthorizationFailedError,
    ClusterAuthorizationFailedError,
    PolicyViolationError,
    UnsupportedVersionError,
    UnsupportedForMessageFormatError,
)


def max_request_bytes(settings: Settings) -> int:
    return settings.max_body_bytes + settings.max_header_bytes + _REQUEST_OVERHEAD


# What brokers without idempotent producers answer InitProducerId with (Tansu: UnknownError).
_NO_IDEMPOTENCE = (UnknownError, UnsupportedVersionError, ClusterAuthorizationFailedError)


class Producer(AIOKafkaProducer):  # type: ignore[misc]  # aiokafka ships no type hints
    """An AIOKafkaProducer whose start() says which setting to change when the broker
    refuses idempotent producing, instead of aiokafka's bare `UnknownError: [Error -1]`."""

    def __init__(self, *, enable_idempotence: bool, **config: object) -> None:
        super().__init__(enable_idempotence=enable_idempotence, **config)
        self.idempotent = enable_idempotence
        self.bootstrap = config.get("bootstrap_servers")

    async def start(self) -> None:
        try:
            await super().start()
        except _NO_IDEMPOTENCE as exc:
            if not self.idempotent:
                raise
            with contextlib.suppress(Exception):
                await self.stop()  # closes the connections start() opened
            raise ConfigError(
                f"the Kafka broker at {self.bootstrap} refused to start an "
                f"idempotent producer ({type(exc).__name__}: {exc}); it may not support "
                "idempotent producers: set KAFKA_IDEMPOTENT_PRODUCER=false for such a broker"
            ) from exc


def make_producer(settings: Settings, *, linger_ms: int | None = None) -> AIOKafkaProducer:
    return Producer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=settings.idempotent_producer,
        linger_ms=settings.kafka_linger_ms if linger_ms is None else linger_ms,
        request_timeout_ms=settings.kafka_request_timeout_ms,
        max_request_size=max_request_bytes(settings),
        max_batch_size=1024 * 1024,
        client_id=f"hybrid-scheduler-{settings.node_id or 'node'}",
    )


def make_consumer(
    settings: Settings, *topics: str, group_id: str | None = None
) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group_id or settings.consumer_group,
        enable_auto_commit=False,  # offsets are committed only once events are stored
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
        request_timeout_ms=max(settings.kafka_request_timeout_ms, 40_000),
    )


async def ensure_topics(
    settings: Settings, topics: Iterable[str], *, partitions: int = 4, wait: float = 30.0
) -> None:
    """Create the topics that do not exist yet (idempotent; safe with other nodes)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=10_000
    )
    await asyncio.wait_for(admin.start(), wait)
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        if not missing:
            return
        with contextlib.suppress(TopicAlreadyExistsError):  # another node was first
            await admin.create_topics(
                [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in missing]
            )
        log.info("created Kafka topics %s", missing)
    finally:
        await admin.close()


def is_unavailable(exc: BaseException) -> bool:
    """The broker could not be reached: no fault of the event, so it trips the breaker."""
    return isinstance(exc, _UNAVAILABLE)


def is_timeout(exc: BaseException) -> bool:
    """The broker did not answer in time (the producer's own deadline included), as
    opposed to answering with an error or refusing the connection."""
    return isinstance(exc, _TIMEOUTS)


def is_retryable(exc: BaseException) -> bool:
    """Worth trying the same event again later (as opposed to dead-lettering it now).

    Only errors that certainly fail again are permanent. Anything else, a broker's
    generic UnknownError included, is retried with backoff up to SCHEDULES_MAX_ATTEMPTS:
    a glitch must not send good events to the dead-letter topic.
    """
    return not isinstance(exc, _PERMANENT)
