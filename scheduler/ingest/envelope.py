"""The JSON envelope services put on KAFKA_DELAYED_TOPIC_NAME, and its dead letters.

    {"topic": "user.notifications", "entity_type": "user", "action": "send_reminder",
     "body": "{\"user_id\": 123}", "delay_seconds": 1800,
     "correlation_id": "reminder-123", "headers": {"priority": "high"},
     "priority": 0, "max_delay_seconds": 86400, "schedule_id": "reminder-123",
     "on_conflict": "keep"}

Same fields and rules as the HTTP and Python APIs (scheduler.models.ScheduleRequest).

A recurring schedule travels on the same topic (scheduler.recurring), as a message with
one field: `{"recurring": {<definition>}}` creates or replaces it (the same definition
again changes nothing, so a redelivered message is harmless), `{"recurring_delete":
"<recurring_id>"}` deletes it (nothing to delete is fine).
`delay_seconds` counts from the message's Kafka timestamp (when it was produced), so
consumer lag does not push events later. Without a schedule_id the event gets one
derived from the message's topic, partition and offset: a message consumed twice (after
a crash before the offset commit) is still one event.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka.structs import ConsumerRecord

from scheduler.errors import InvalidEvent
from scheduler.fastpath import fast_event
from scheduler.models import Event, Limits, OnConflict, parse_request, to_event
from scheduler.recurring.model import (
    RECURRING_ID_RE,
    RecurringRequest,
    check_template,
    parse_recurring,
)

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
    return parse_envelope_policy(rec, limits, now)[0]


def parse_envelope_policy(
    rec: ConsumerRecord[bytes, bytes], limits: Limits, now: float | None = None
) -> tuple[Event, OnConflict]:
    """`parse_envelope`, and what to do when the schedule_id is already pending."""
    if rec.value is None:
        raise InvalidEvent("message has no value (tombstone)")
    now = time.time() if now is None else now
    found = _fast(rec, limits, now)
    if found is not None:
        return found
    req = parse_request(rec.value)
    if req.schedule_id is None:
        req.schedule_id = message_schedule_id(rec)
    return to_event(req, limits, now, base=delay_base(rec, now)), req.on_conflict


def _fast(
    rec: ConsumerRecord[bytes, bytes], limits: Limits, now: float
) -> tuple[Event, OnConflict] | None:
    """The common envelope through scheduler.fastpath; None for anything the model must
    judge (parsing the JSON as the model does: ScheduleRequest in JSON mode).

    Only with a text body: orjson reads an integer beyond 64 bits as a float, where the
    model reads it as an int (and refuses it in a body); text has no numbers to differ
    on. Bad JSON (lone surrogates, NaN, too deep) fails orjson and goes to the model too.
    """
    try:
        data = orjson.loads(rec.value)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict or type(data.get("body")) is not str:
        return None
    if data.get("schedule_id") is None:
        data["schedule_id"] = message_schedule_id(rec)
    found = fast_event(data, limits, now, base=delay_base(rec, now))
    if found is None:
        return None
    ev, replace = found
    return ev, OnConflict.REPLACE if replace else OnConflict.KEEP


@dataclass(frozen=True, slots=True)
class RecurringCommand:
    """A recurring-schedule message: `definition` to create or replace, or None to delete."""

    recurring_id: str
    definition: RecurringRequest | None


_RECURRING_KEYS = ("recurring", "recurring_delete")


def parse_recurring_envelope(
    rec: ConsumerRecord[bytes, bytes], limits: Limits
) -> RecurringCommand | None:
    """The recurring-schedule command of a message, None if it is not one (then it is
    an event's envelope); InvalidEvent names what is wrong (`recurring.<field>`)."""
    value = rec.value
    if value is None or b'"recurring' not in value:  # cheap: most messages are events
        return None
    try:
        data: Any = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None  # parse_envelope says what is wrong with it
    if not isinstance(data, dict) or not any(key in data for key in _RECURRING_KEYS):
        return None
    if len(data) != 1:
        raise InvalidEvent(
            "recurring: a recurring-schedule message has one field, `recurring` or "
            "`recurring_delete`",
            field="recurring",
        )
    if "recurring_delete" in data:
        rid = data["recurring_delete"]
        if not isinstance(rid, str) or RECURRING_ID_RE.fullmatch(rid) is None:
            raise InvalidEvent(
                "recurring_delete: must be a recurring_id (1-64 of letters, digits, . _ : -)",
                field="recurring_delete",
            )
        return RecurringCommand(rid, None)
    body = data["recurring"]
    if not isinstance(body, dict):
        raise InvalidEvent(
            "recurring: must be a recurring schedule's definition (an object)", field="recurring"
        )
    try:
        req = parse_recurring(body)
        check_template(req, limits)
    except InvalidEvent as exc:
        field = f"recurring.{exc.field}" if exc.field else "recurring"
        raise InvalidEvent(f"recurring: {exc}", field=field) from None
    return RecurringCommand(req.recurring_id, req)


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
