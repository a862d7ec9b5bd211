"""Kafka clients built from Settings, topic creation, producer error classification, and
the broker liveness probe."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Iterable

from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import collect_hosts
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


# --- liveness: is a broker there and answering? -------------------------------------------

# An ApiVersions v0 request. Every Kafka-protocol broker answers it, whatever its version
# (clients ask it first to learn which versions to speak), and it changes nothing.
_PROBE_API_VERSIONS = 18
_PROBE_CORRELATION_ID = 0x5C4ED
_PROBE_CLIENT_ID = b"hybrid-scheduler"
_PROBE_HEADER = (
    struct.pack(">hhih", _PROBE_API_VERSIONS, 0, _PROBE_CORRELATION_ID, len(_PROBE_CLIENT_ID))
    + _PROBE_CLIENT_ID
)
PROBE_REQUEST = struct.pack(">i", len(_PROBE_HEADER)) + _PROBE_HEADER
PROBE_REPLY_BYTES = 10  # the answer's size, correlation id and error code: all a probe reads


def probe_reply_error(reply: bytes) -> str | None:
    """Why `reply`, the first PROBE_REPLY_BYTES of the answer to PROBE_REQUEST, is not a
    broker's good answer; None when it is."""
    size, correlation_id, error_code = struct.unpack(">iih", reply)
    if size < 6 or correlation_id != _PROBE_CORRELATION_ID:
        return "answered, but not as a Kafka broker"
    if error_code:
        return f"answered ApiVersions with error code {error_code}"
    return None


async def probe_broker(brokers: str | AIOKafkaClient, within: float) -> str | None:
    """Is a broker there and answering? None if one is, else why not (one line).

    A real round trip, not a TCP connect: a hung broker (stopped, or stuck) still accepts
    connections, the kernel queues them, but answers nothing. One ApiVersions request goes
    to every broker at once, on connections of its own; the first good answer ends the
    probe, and the whole of it takes at most `within` seconds.

    `brokers` is the bootstrap list as KAFKA_BOOTSTRAP_SERVERS gives it, or a client: then
    its bootstrap brokers and every broker its metadata names. The executor asks this
    before treating a batch the broker refused as an outage; the health endpoint reports
    it as the `kafka` component.
    """
    try:
        addresses = _addresses(brokers)
    except (ValueError, TypeError) as exc:
        return f"unusable bootstrap servers {brokers!r}: {exc}"
    if not addresses:
        return "no bootstrap servers"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    asks = {asyncio.ensure_future(_ask(host, port)): f"{host}:{port}" for host, port in addresses}
    errors: dict[str, str] = {}
    pending = set(asks)
    try:
        while pending and (left := deadline - loop.time()) > 0:
            done, pending = await asyncio.wait(
                pending, timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                failure = task.exception()
                if failure is None:
                    return None
                errors[asks[task]] = str(failure) or type(failure).__name__
    finally:
        for task in pending:
            task.cancel()
    return "; ".join(
        f"{address}: {errors.get(address, f'no answer within {within:g} s')}"
        for address in asks.values()
    )


def _addresses(brokers: str | AIOKafkaClient) -> list[tuple[str, int]]:
    if isinstance(brokers, str):
        found = [(host, port) for host, port, _ in collect_hosts(brokers, randomize=False)]
        return [(host, port) for host, port in found if host]
    found = [(host, port) for host, port, _ in brokers.hosts]
    found += sorted((b.host, b.port) for b in brokers.cluster.brokers())
    return list(dict.fromkeys(found))


async def _ask(host: str, port: int) -> None:
    """One ApiVersions round trip; raises unless the broker answered it well."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(PROBE_REQUEST)
        await writer.drain()
        reply = await reader.readexactly(PROBE_REPLY_BYTES)
    except asyncio.IncompleteReadError as exc:
        raise ConnectionError("closed the connection without answering") from exc
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    error = probe_reply_error(reply)
    if error is not None:
        raise ConnectionError(error)
