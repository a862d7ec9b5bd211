"""Delayed-topic envelopes through the fast path (scheduler.fastpath) get exactly the
model's answer: the same Event, or the same InvalidEvent."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from aiokafka.structs import ConsumerRecord

from scheduler.errors import InvalidEvent
from scheduler.ingest.envelope import delay_base, message_schedule_id, parse_envelope_policy
from scheduler.models import Event, OnConflict, parse_request, to_event
from unit.fakes import kafka_record, limits

NOW = 1_700_000_000.5


def record(value: bytes, *, timestamp_ms: int = 1_699_999_990_000) -> ConsumerRecord[bytes, bytes]:
    return kafka_record(value, partition=2, offset=41, timestamp_ms=timestamp_ms)


def by_model(rec: ConsumerRecord[bytes, bytes]) -> tuple[Event, OnConflict]:
    """What the envelope gave before the fast path: ScheduleRequest in JSON mode."""
    assert rec.value is not None
    req = parse_request(rec.value)
    if req.schedule_id is None:
        req.schedule_id = message_schedule_id(rec)
    return to_event(req, limits(), NOW, base=delay_base(rec, NOW)), req.on_conflict


def answer(fn: Any, rec: ConsumerRecord[bytes, bytes]) -> object:
    try:
        return fn(rec)
    except InvalidEvent as exc:
        return ("invalid", exc.field, str(exc))


BASE: dict[str, Any] = {"topic": "user.notifications", "body": "x" * 400, "delay_seconds": 30}


@pytest.mark.parametrize(
    "envelope",
    [
        BASE,
        {**BASE, "schedule_id": "reminder-1"},
        {**BASE, "schedule_id": None},
        {**BASE, "delay_seconds": 0.25},
        {**BASE, "delay_seconds": 10**20},  # beyond 64 bits, as a float: out of range
        {**BASE, "delay_seconds": -1},
        {**BASE, "entity_type": "user", "action": "send", "correlation_id": "c-1"},
        {**BASE, "headers": {"source": "bench", "é": "ü"}},
        {**BASE, "priority": 7, "max_delay_seconds": 60},
        {**BASE, "priority": 2**40},
        {**BASE, "on_conflict": "replace"},
        {**BASE, "on_conflict": "nope"},
        {"topic": "t", "body": "b", "scheduled_at": "2030-01-01T00:00:00Z"},
        {"topic": "t", "body": "b", "scheduled_at": 1_900_000_000},
        {"topic": "t", "body": "b", "scheduled_at": "2030-01-01T00:00:00Z", "delay_seconds": 1},
        {**BASE, "body": "b" * 2_000_000},  # over the body limit
        {**BASE, "topic": "bad topic"},
        {**BASE, "extra": 1},
        {**BASE, "body": [123456789012345678901234567890]},  # the model's: not 64 bits
        {**BASE, "body": {"n": 1.5}},
    ],
)
def test_the_fast_path_answers_as_the_model(envelope: dict[str, Any]) -> None:
    rec = record(_dumps(envelope))
    fast = answer(lambda r: parse_envelope_policy(r, limits(), NOW), rec)
    assert fast == answer(by_model, rec)


def _dumps(value: dict[str, Any]) -> bytes:
    """JSON as a producer would write it (orjson refuses integers beyond 64 bits)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value).encode()


def test_delay_counts_from_the_message_timestamp() -> None:
    rec = record(orjson.dumps(BASE), timestamp_ms=1_699_999_990_000)
    ev, policy = parse_envelope_policy(rec, limits(), NOW)
    assert ev.scheduled_at == 1_699_999_990.0 + 30
    assert ev.created_at == NOW
    assert ev.schedule_id == message_schedule_id(rec)
    assert policy is OnConflict.KEEP
