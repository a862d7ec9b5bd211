"""Hostile input: every request is an accepted event or an InvalidEvent naming the field.

Each case here once escaped as another exception (a crashed consumer, an HTTP 500) or was
accepted and then refused by the producer. No services: validation is pure.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aiokafka.structs import ConsumerRecord

from scheduler.errors import InvalidEvent
from scheduler.ingest.envelope import parse_envelope
from scheduler.models import parse_request, to_event
from unit.fakes import default_settings, kafka_record, limits

BIG = 123456789012345678901234567890


def req(**kw: Any) -> dict[str, Any]:
    return {"topic": "t", "body": "x", "delay_seconds": 5, **kw}


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def event_of(data: dict[str, Any]) -> object:
    return to_event(parse_request(data), limits(), now=1_700_000_000.0)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (req(body=[BIG]), "body", "64 bits"),
        (req(body={"n": -BIG}), "body", "64 bits"),
        (req(body=[float("nan")]), "body", "NaN"),
        (req(body={"x": float("inf")}), "body", "NaN"),
        (req(body="\ud800"), "body", "surrogate"),
        (req(body={"k": "a\udc00b"}), "body", "surrogate"),
        (req(body={"\ud800": 1}), "body", "surrogate"),
        (req(body=nested(300)), "body", "nested"),
        (req(headers={"h": "\ud800"}), "headers", "surrogate"),
        (req(headers={"\udfff": "v"}), "headers", "surrogate"),
        (req(entity_type="\ud800"), "entity_type", "surrogate"),
        (req(action="a\ud800"), "action", "surrogate"),
        (req(correlation_id="\ud800"), "correlation_id", "surrogate"),
        (req(topic="t\n"), "topic", "legal Kafka topic name"),
        (req(schedule_id="id\n"), "schedule_id", "1-128 characters"),
    ],
)
def test_hostile_values_are_invalid_events_naming_the_field(
    data: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(InvalidEvent) as err:
        event_of(data)
    assert err.value.field == field, err.value
    # pydantic itself refuses some lone surrogates ("not a valid unicode string")
    words = ("surrogate", "unicode") if message == "surrogate" else (message,)
    assert any(w in str(err.value) for w in words), err.value


def test_a_body_nested_as_deep_as_json_serialises_is_accepted() -> None:
    ev = event_of(req(body=nested(200)))
    assert ev.body == b"[" * 200 + b"]" * 200  # type: ignore[attr-defined]


def test_neither_time_field_names_a_time_field_not_body() -> None:
    with pytest.raises(InvalidEvent) as err:
        parse_request({"topic": "t", "body": "x"})
    assert err.value.field == "delay_seconds"
    assert "exactly one of scheduled_at or delay_seconds" in str(err.value)


def record(value: bytes) -> ConsumerRecord[bytes, bytes]:
    return kafka_record(value)


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (b'{"topic":"x","body":[123456789012345678901234567890],"delay_seconds":5}', "body"),
        (b'{"topic":"x","body":[NaN],"delay_seconds":5}', "body"),
        (b'{"topic":"x","body":{"a":Infinity},"delay_seconds":5}', "body"),
        (b'{"topic":"x\\n","body":"b","delay_seconds":5}', "topic"),
        (b'{"topic":"x","body":"\\ud800","delay_seconds":5}', None),
        (b'{"topic":"x","body":"b","delay_seconds":5,"headers":{"h":"\\udc00"}}', None),
        (b'{"topic":"x","body":' + b"[" * 300 + b"]" * 300 + b',"delay_seconds":5}', None),
        (b'{"topic":"x","body":' + b"[" * 100_000 + b',"delay_seconds":5}', None),
    ],
)
def test_hostile_envelopes_are_invalid_events(value: bytes, field: str | None) -> None:
    with pytest.raises(InvalidEvent) as err:
        parse_envelope(record(value), limits(), now=1_700_000_000.0)
    if field is not None:
        assert err.value.field == field, err.value


def test_duplicate_keys_keep_the_last_value() -> None:
    value = b'{"topic":"x","body":{"a":1,"a":2},"delay_seconds":5}'
    ev = parse_envelope(record(value), limits(), now=1_700_000_000.0)
    assert orjson.loads(ev.body) == {"a": 2}


class _BrokenRouter:
    """Stands in for the router's pure `check` (no I/O) to inject a defect of ours."""

    cold = None  # no cold tier

    def check(self, ev: object, now: float) -> None:
        raise RuntimeError("a bug")


def test_an_unexpected_error_preparing_one_message_dead_letters_only_it() -> None:
    from scheduler.ingest.consumer import DelayedEventsConsumer

    s = default_settings()
    consumer = DelayedEventsConsumer(
        None,  # type: ignore[arg-type]  # prepare() does no I/O
        None,  # type: ignore[arg-type]
        _BrokenRouter(),  # type: ignore[arg-type]
        limits(),
        "dlq",
        batch_size=s.ingest_batch_size,
        max_dead_letter_bytes=s.max_body_bytes,
    )
    good = record(b'{"topic":"x","body":"b","delay_seconds":5}')
    bad = record(b'{"topic":"x","body":[1e999],"delay_seconds":5}')
    prepared = consumer.prepare([good, bad])
    assert prepared.events == []
    reasons = [(reason, error) for _, reason, error in prepared.rejected]
    assert reasons[0] == ("internal", "RuntimeError: a bug")
    assert reasons[1][0] == "invalid" and "NaN or Infinity" in reasons[1][1]
