"""The JSON envelope services put on KAFKA_DELAYED_TOPIC_NAME, and its dead letters.

    {"topic": "user.notifications", "entity_type": "user", "action": "send_reminder",
     "body": "{\"user_id\": 123}", "delay_seconds": 1800,
     "correlation_id": "reminder-123", "headers": {"priority": "high"},
     "priority": 0, "max_delay_seconds": 86400, "schedule_id": "reminder-123"}

Same fields and rules as the HTTP and Python APIs (scheduler.models.ScheduleRequest).
`delay_seconds` counts from the message's Kafka timestamp (when it was produced), so
consumer lag does not push events later. Without a schedule_id the event gets one
derived from the message's topic, partition and offset: a message consumed twice (after
a crash before the offset commit) is still one event.
"""

from __future__ import annotations

import hashlib
import time

from aiokafka.structs import ConsumerRecord

from scheduler.errors import InvalidEvent
from scheduler.models import Event, Limits, parse_request, to_event

# Kafka timestamps further than this from our clock are not trusted as the delay base.
_MAX_CLOCK_SKEW = 3600.0


def message_schedule_id(rec: ConsumerRecord[bytes, bytes]) -> str:
    return schedule_id_of_message(rec.topic, rec.partition, rec.offset)


def schedule_id_of_message(topic: str, partition: int, offset: int) -> str:
    """The schedule_id of an envelope without one: the same for the same message."""
    digest = hashlib.blake2b(f"{topic}/{partition}/{offset}".encode(), digest_size=12).hexdigest()
    return f"k-{digest}"


def delay_base(rec: ConsumerRecord[bytes, bytes], now: float) -> float:
    if rec.timestamp_type == 0 and rec.timestamp > 0:  # CreateTime, set by the producer
        ts: float = rec.timestamp / 1000
        if abs(ts - now) <= _MAX_CLOCK_SKEW:
            return ts
    return now


def parse_envelope(
    rec: ConsumerRecord[bytes, bytes], limits: Limits, now: float | None = None
) -> Event:
    """Parse one delayed-topic message; InvalidEvent says what is wrong with it."""
    if rec.value is None:
        raise InvalidEvent("message has no value (tombstone)")
    req = parse_request(rec.value)
    if req.schedule_id is None:
        req.schedule_id = message_schedule_id(rec)
    now = time.time() if now is None else now
    return to_event(req, limits, now, base=delay_base(rec, now))


def dead_letter_headers(
    rec: ConsumerRecord[bytes, bytes], reason: str, error: str
) -> list[tuple[str, bytes]]:
    return [
        *(rec.headers or ()),
        ("x-dlq-stage", b"ingest"),
        ("x-dlq-reason", reason.encode()),
        ("x-dlq-error", error.encode()[:1024]),
        ("x-original-topic", rec.topic.encode()),
        ("x-original-partition", str(rec.partition).encode()),
        ("x-original-offset", str(rec.offset).encode()),
    ]
