"""Event validation shared by the Python API, HTTP and the Kafka envelope."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from unit.fakes import limits

from scheduler import codec
from scheduler.errors import InvalidEvent
from scheduler.models import Limits, new_schedule_id, parse_request, to_event


def req(**kw: object) -> dict[str, object]:
    return {"topic": "user.notifications", "body": "hi", "delay_seconds": 10, **kw}


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (req(topic="has space"), "topic", "legal Kafka topic name"),
        (req(topic="x" * 250), "topic", "legal Kafka topic name"),
        (req(delay_seconds=float("inf")), "delay_seconds", "finite"),
        (req(delay_seconds=-1), "delay_seconds", "greater than or equal to 0"),
        (req(delay_seconds=None), "delay_seconds", "exactly one of scheduled_at or delay_seconds"),
        (
            req(scheduled_at=datetime.now(UTC).isoformat()),
            "delay_seconds",
            "exactly one of scheduled_at or delay_seconds",
        ),
        (
            {"topic": "t", "body": "x", "scheduled_at": "2030-01-01T00:00:00"},
            "scheduled_at",
            "timezone",
        ),
        (req(schedule_id="has space"), "schedule_id", "1-128 characters"),
        (req(priority=2**40), "priority", "less than or equal"),
        (req(headers={"k": 1}), "headers", "valid string"),
        (req(unknown_field=1), "unknown_field", "Extra inputs"),
    ],
)
def test_invalid_requests_name_the_field(data: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        parse_request(data)
    assert field in str(err.value) and message in str(err.value)


@pytest.mark.parametrize(
    ("data", "limits", "message"),
    [
        (req(body="x" * 101), limits(max_body_bytes=100), "body is 101 bytes; the limit is 100"),
        (req(headers={f"h{i}": "v" for i in range(3)}), limits(max_headers=2), "3 headers"),
        (req(headers={"h": "v" * 50}), limits(max_header_bytes=20), "headers total 51 bytes"),
        (req(headers={"schedule_id": "x"}), limits(), "reserved"),
        (req(delay_seconds=1e300), limits(), "out of range"),
    ],
)
def test_limits_are_enforced(data: dict[str, object], limits: Limits, message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        to_event(parse_request(data), limits, time.time())


def test_body_is_kept_exactly_and_json_bodies_are_serialised() -> None:
    now = time.time()
    text = to_event(parse_request(req(body='{"a": 1,  "b":2}')), limits(), now)
    assert text.body == b'{"a": 1,  "b":2}'  # a string body is not reformatted
    obj = to_event(parse_request(req(body={"a": 1, "b": [1, 2]})), limits(), now)
    assert obj.body == b'{"a":1,"b":[1,2]}'


def test_times_resolve_from_delay_or_aware_datetime() -> None:
    now = 1_800_000_000.0
    assert to_event(parse_request(req(delay_seconds=1.5)), limits(), now).scheduled_at == now + 1.5
    at = datetime(2030, 1, 1, 12, tzinfo=UTC) + timedelta(microseconds=250)
    ev = to_event(
        parse_request({"topic": "t", "body": "x", "scheduled_at": at.isoformat()}), limits(), now
    )
    assert ev.scheduled_at == at.timestamp()
    assert ev.max_delay_seconds == 86400


def test_generated_ids_are_unique_sortable_ulids() -> None:
    ids = [new_schedule_id() for _ in range(1000)]
    assert len(set(ids)) == 1000 and all(len(i) == 26 for i in ids)
    first = new_schedule_id()
    time.sleep(0.002)
    assert new_schedule_id() > first
    # Crockford base 32 of (48-bit milliseconds << 80 | 80 random bits), first digit <= 7.
    before = time.time_ns() // 1_000_000
    sid = new_schedule_id()
    value = 0
    for ch in sid:
        value = value * 32 + "0123456789ABCDEFGHJKMNPQRSTVWXYZ".index(ch)
    assert sid[0] <= "7" and before <= value >> 80 <= time.time_ns() // 1_000_000


def test_codec_round_trip() -> None:
    ev = to_event(
        parse_request(
            req(headers={"a": "1"}, correlation_id="c", priority=-3, max_delay_seconds=5)
        ),
        limits(),
        time.time(),
    )
    back = codec.decode(ev.schedule_id, codec.encode(ev))
    assert back.body == ev.body and back.headers == ev.headers
    assert (back.correlation_id, back.priority, back.max_delay_seconds) == ("c", -3, 5)
    assert back.scheduled_at == pytest.approx(ev.scheduled_at, abs=1e-6)
