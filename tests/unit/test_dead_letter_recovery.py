"""From a dead-letter message to a listed item and the event a replay would schedule
(scheduler.deadletters.recover): pure logic, no services."""

from __future__ import annotations

from dataclasses import dataclass, field

from scheduler.cold.records import Schedule, Status, Tier
from scheduler.deadletters.model import Mode, Reason, Source, Stage
from scheduler.deadletters.recover import (
    from_record,
    from_schedule,
    merge,
    parse_cold_id,
    parse_topic_id,
    replay_schedule_id,
)
from scheduler.hot.executor import kafka_headers
from scheduler.ingest.envelope import schedule_id_of_message
from scheduler.models import Event, Limits

LIMITS = Limits(
    max_body_bytes=1024,
    max_headers=8,
    max_header_bytes=1024,
    default_max_delay_seconds=86400,
)
NOW = 1_800_000_000.0


@dataclass
class Record:
    """The fields of an aiokafka ConsumerRecord that recovery reads."""

    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    topic: str = "delayed_events.dlq"
    partition: int = 1
    offset: int = 7
    timestamp: int = int(NOW * 1000)


def published(ev: Event, reason: bytes = b"retries_exhausted") -> Record:
    """A dead letter exactly as the executor writes it."""
    return Record(
        ev.body,
        [
            *kafka_headers(ev, 5),
            ("x-dlq-stage", b"publish"),
            ("x-dlq-reason", reason),
            ("x-dlq-error", b"5 attempts failed"),
            ("x-original-topic", ev.topic.encode()),
        ],
    )


EVENT = Event(
    schedule_id="order-1",
    topic="orders",
    body=b'{"id": 1}',
    scheduled_at=NOW - 60.123456,
    entity_type="order",
    action="remind",
    correlation_id="c-1",
    headers={"tenant": "acme"},
    priority=3,
    max_delay_seconds=600,
)


def test_a_published_dead_letter_gives_back_the_event_but_priority_and_max_delay() -> None:
    found = from_record(published(EVENT), LIMITS, NOW)
    item, ev = found.item, found.event
    assert (item.id, item.stage, item.reason, item.sources) == (
        "t:1:7",
        Stage.PUBLISH,
        Reason.RETRIES_EXHAUSTED,
        [Source.TOPIC],
    )
    assert (item.schedule_id, item.topic, item.attempts, item.replayable) == (
        "order-1",
        "orders",
        5,
        True,
    )
    assert ev is not None
    assert (ev.topic, ev.body, ev.headers, ev.correlation_id) == (
        "orders",
        b'{"id": 1}',
        {"tenant": "acme"},
        "c-1",
    )
    assert (ev.entity_type, ev.action) == ("order", "remind")
    assert round(ev.scheduled_at, 6) == round(EVENT.scheduled_at, 6)
    assert (ev.priority, ev.max_delay_seconds) == (0, 86400)  # not carried by the topic
    assert found.replay_key == f"e:{round(EVENT.scheduled_at * 1_000_000)}:order-1"


def test_the_topic_message_and_the_cold_row_are_one_dead_letter() -> None:
    row = Schedule(EVENT, Status.ERROR, Tier.HOT, 5, "retries_exhausted: 5 attempts failed")
    row.updated_us = int(NOW * 1_000_000)
    cold = from_schedule(row)
    topic = from_record(published(EVENT), LIMITS, NOW)
    assert cold.replay_key == topic.replay_key
    assert cold.item.reason is Reason.RETRIES_EXHAUSTED
    (one,) = merge([cold], [topic])
    assert one.item.id.startswith("c:") and set(one.item.sources) == {Source.COLD, Source.TOPIC}
    assert (one.item.partition, one.item.offset) == (1, 7)
    assert one.event is not None and one.event.priority == 3  # the row's, in full


def test_new_ids_are_the_same_for_one_dead_letter_and_differ_between_two() -> None:
    a = from_record(published(EVENT), LIMITS, NOW)
    again = from_record(published(EVENT), LIMITS, NOW)
    other = from_record(published(Event("order-2", "orders", b"x", NOW)), LIMITS, NOW)
    assert replay_schedule_id(a, Mode.SAME_ID) == "order-1"
    new = replay_schedule_id(a, Mode.NEW_ID)
    assert new is not None and new.startswith("r-") and len(new) <= 128
    assert new == replay_schedule_id(again, Mode.NEW_ID) != replay_schedule_id(other, Mode.NEW_ID)


def test_an_invalid_envelope_is_listed_not_replayable_with_the_reason() -> None:
    rec = Record(
        b'{"topic": "t", "body": "x"}',
        [("x-dlq-stage", b"ingest"), ("x-dlq-reason", b"invalid"), ("x-dlq-error", b"...")],
    )
    found = from_record(rec, LIMITS, NOW)
    assert found.event is None and found.item.replayable is False
    assert "delay_seconds" in (found.item.not_replayable_reason or "")
    assert found.replay_key == "t:delayed_events.dlq:1:7"


def test_a_valid_envelope_keeps_its_time_and_the_id_ingest_gave_it() -> None:
    rec = Record(
        b'{"topic": "orders", "body": "x", "delay_seconds": 30}',
        [
            ("x-dlq-stage", b"ingest"),
            ("x-dlq-reason", b"internal"),
            ("x-original-topic", b"delayed_events"),
            ("x-original-partition", b"2"),
            ("x-original-offset", b"99"),
        ],
    )
    found = from_record(rec, LIMITS, NOW)
    assert found.event is not None and found.keeps_time
    assert found.event.scheduled_at == NOW + 30  # from the message's time
    assert found.event.schedule_id == schedule_id_of_message("delayed_events", 2, 99)
    assert found.item.topic == "orders"


def test_what_cannot_be_recovered_says_why() -> None:
    cases = {
        "cut at": [("x-dlq-stage", b"ingest"), ("x-dlq-truncated-from", b"9999999")],
        "not a readable event": [
            ("x-dlq-stage", b"publish"),
            ("x-dlq-reason", b"unreadable_payload"),
        ],
        "header missing": [("x-dlq-stage", b"publish"), ("x-dlq-reason", b"permanent_error")],
        "no x-dlq-stage": [("something", b"else")],
    }
    for why, headers in cases.items():
        found = from_record(Record(b"\xff\xfe", headers), LIMITS, NOW)
        assert found.event is None, why
        assert why in (found.item.not_replayable_reason or ""), found.item
    unknown = from_record(Record(None, [("x-dlq-reason", b"\xff")]), LIMITS, NOW)
    assert unknown.item.reason is Reason.UNKNOWN and unknown.item.body_bytes == 0


def test_ids_parse_strictly() -> None:
    assert parse_topic_id("t:3:42") == (3, 42)
    assert parse_cold_id("c:1763888400000000:reminder:123") == (1763888400000000, "reminder:123")
    for bad in ("t:3", "t:-1:2", "t:a:b", "t:²:1", "c:1", "c:x:y", "c:1:has space", "x:1:2", ""):
        assert parse_topic_id(bad) is None and parse_cold_id(bad) is None, bad


def test_the_command_line_offers_every_reason() -> None:
    from cli.ops import REASONS

    assert set(REASONS) == {r.value for r in Reason}
