"""From a dead-letter message (or a cold-tier error row) to a listed item and, where it can
be recovered, the event it was. No I/O: the listing and the replay both use it.

What the topic carries (scheduler.hot.executor, scheduler.ingest.consumer):

- publish stage: the body as value, the event's headers plus the scheduler's (schedule_id,
  correlation_id, entity_type, action, scheduled_at, attempt) and `x-dlq-*`,
  `x-original-topic`. Priority and max_delay_seconds are not carried: an event recovered
  from the topic alone gets priority 0 and SCHEDULES_DEFAULT_MAX_DELAY_SECONDS (the cold
  tier's row, when there is one, has them, and is used instead).
- ingest stage: the envelope as it came, byte for byte (cut at SCHEDULES_MAX_BODY_BYTES
  when it was longer: `x-dlq-truncated-from`), and where it came from.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from scheduler.cold.records import Schedule, micros
from scheduler.deadletters.model import DeadLetter, Mode, Reason, Source, Stage
from scheduler.errors import InvalidEvent
from scheduler.ingest.envelope import schedule_id_of_message
from scheduler.models import RESERVED_HEADERS, Event, Limits, parse_request, to_event

_OURS = ("x-dlq-", "x-original-")


@dataclass(slots=True)
class Found:
    """A dead letter as listed, the event a replay would schedule (None: not
    replayable), and the key that remembers its replay."""

    item: DeadLetter
    event: Event | None
    replay_key: str
    # An ingest envelope keeps its own time; a publish-stage event fires on replay.
    keeps_time: bool = False


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _reason(value: str | None) -> Reason:
    try:
        return Reason(value or "")
    except ValueError:
        return Reason.UNKNOWN


def event_key(scheduled_us: int, schedule_id: str) -> str:
    """The replay key of an event: the same from the topic and from the cold tier."""
    return f"e:{scheduled_us}:{schedule_id}"


def replay_schedule_id(found: Found, mode: Mode) -> str | None:
    """The schedule_id the replay gets: the original one, or a new id that is the same
    for every replay of this dead letter."""
    if found.event is None:
        return None
    if mode is Mode.SAME_ID:
        return found.event.schedule_id
    digest = hashlib.blake2b(found.replay_key.encode(), digest_size=12).hexdigest()
    return f"r-{digest}"


def from_record(rec: Any, limits: Limits, now: float) -> Found:
    """A message of the dead-letter topic (an aiokafka ConsumerRecord)."""
    headers: dict[str, bytes] = {name: raw or b"" for name, raw in rec.headers or ()}
    text = {k: v.decode("utf-8", "replace") for k, v in headers.items() if k.startswith(_OURS)}
    stage_text = text.get("x-dlq-stage")
    stage = Stage(stage_text) if stage_text in {s.value for s in Stage} else None
    reason = _reason(text.get("x-dlq-reason"))
    value: bytes = rec.value or b""
    item = DeadLetter(
        id=f"t:{rec.partition}:{rec.offset}",
        sources=[Source.TOPIC],
        stage=stage,
        reason=reason,
        error=text.get("x-dlq-error"),
        dead_lettered_at=_dt(rec.timestamp / 1000),
        topic=text.get("x-original-topic"),
        schedule_id=None,
        body_bytes=len(value),
        partition=rec.partition,
        offset=rec.offset,
    )
    topic_key = f"t:{rec.topic}:{rec.partition}:{rec.offset}"
    if stage is Stage.PUBLISH:
        return _published(item, headers, value, limits, topic_key)
    if stage is Stage.INGEST:
        return _ingested(item, rec, headers, text, limits, now, topic_key)
    return _not_replayable(item, topic_key, "not a dead letter of this scheduler (no x-dlq-stage)")


def _not_replayable(item: DeadLetter, key: str, why: str) -> Found:
    item.replayable, item.not_replayable_reason = False, why
    return Found(item, None, key)


def _published(
    item: DeadLetter, headers: dict[str, bytes], value: bytes, limits: Limits, topic_key: str
) -> Found:
    def header(name: str) -> str | None:
        raw = headers.get(name)
        return None if raw is None else raw.decode("utf-8", "replace")

    item.schedule_id = header("schedule_id")
    item.entity_type, item.action = header("entity_type"), header("action")
    item.attempts = _int(header("attempt"))
    if item.reason is Reason.UNREADABLE_PAYLOAD:
        return _not_replayable(item, topic_key, "the stored payload was not a readable event")
    at = header("scheduled_at")
    try:
        scheduled_at = datetime.fromisoformat(at).timestamp() if at else None
    except ValueError:
        scheduled_at = None
    if item.schedule_id is None or scheduled_at is None or item.topic is None:
        return _not_replayable(
            item, topic_key, "schedule_id, scheduled_at or x-original-topic header missing"
        )
    item.scheduled_at = _dt(scheduled_at)
    own = {
        k: v.decode("utf-8", "replace")
        for k, v in headers.items()
        if k not in RESERVED_HEADERS and not k.startswith(_OURS)
    }
    event = Event(
        schedule_id=item.schedule_id,
        topic=item.topic,
        body=value,
        scheduled_at=scheduled_at,
        entity_type=item.entity_type or "",
        action=item.action or "",
        correlation_id=header("correlation_id") or None,
        headers=own,
        max_delay_seconds=limits.default_max_delay_seconds,
    )
    item.replayable = True
    return Found(item, event, event_key(micros(scheduled_at), item.schedule_id))


def _ingested(
    item: DeadLetter,
    rec: Any,
    headers: dict[str, bytes],
    text: dict[str, str],
    limits: Limits,
    now: float,
    topic_key: str,
) -> Found:
    if "x-dlq-truncated-from" in text:
        return _not_replayable(
            item, topic_key, f"the envelope was cut at {len(rec.value or b'')} bytes"
        )
    if rec.value is None:
        return _not_replayable(item, topic_key, "message has no value (tombstone)")
    try:
        req = parse_request(rec.value)
        partition, offset = (
            _int(text.get("x-original-partition")),
            _int(text.get("x-original-offset")),
        )
        if req.schedule_id is None:
            # The id ingest gave it (from the delayed-topic message), else one of its own.
            if item.topic and partition is not None and offset is not None:
                req.schedule_id = schedule_id_of_message(item.topic, partition, offset)
            else:
                req.schedule_id = schedule_id_of_message(rec.topic, rec.partition, rec.offset)
        event = to_event(req, limits, now, base=rec.timestamp / 1000)
    except InvalidEvent as exc:
        return _not_replayable(item, topic_key, f"invalid envelope: {exc}")
    item.schedule_id, item.scheduled_at = event.schedule_id, _dt(event.scheduled_at)
    item.entity_type, item.action = event.entity_type, event.action
    item.replayable = True
    # The envelope's target, not the delayed topic it came from.
    item.topic = event.topic
    return Found(item, event, topic_key, keeps_time=True)


def from_schedule(s: Schedule) -> Found:
    """A cold-tier `error` row: the whole event, as it was accepted."""
    ev = s.event
    reason_text, _, _ = (s.error or "").partition(":")
    item = DeadLetter(
        id=f"c:{s.scheduled_us}:{ev.schedule_id}",
        sources=[Source.COLD],
        stage=Stage.PUBLISH,
        reason=_reason(reason_text.strip()),
        error=s.error,
        dead_lettered_at=_dt(s.updated_us / 1_000_000),
        topic=ev.topic,
        schedule_id=ev.schedule_id,
        scheduled_at=ev.scheduled_at_datetime,
        entity_type=ev.entity_type,
        action=ev.action,
        attempts=s.attempts or None,
        body_bytes=len(ev.body),
        replayable=True,
    )
    return Found(item, ev, event_key(s.scheduled_us, ev.schedule_id))


def merge(cold: Sequence[Found], topic: Sequence[Found]) -> list[Found]:
    """One item per dead letter: an event both on the topic and in ClickHouse is the cold
    row (every field of the event) with the topic message's place and timestamp."""
    by_key = {f.replay_key: f for f in cold}
    merged = list(cold)
    for f in topic:
        same = by_key.get(f.replay_key)
        if same is None:
            by_key[f.replay_key] = f
            merged.append(f)
        elif Source.TOPIC not in same.item.sources:
            same.item.sources.append(Source.TOPIC)
            same.item.partition, same.item.offset = f.item.partition, f.item.offset
            same.item.dead_lettered_at = f.item.dead_lettered_at
    return merged


_TOPIC_ID = re.compile(r"t:([0-9]{1,9}):([0-9]{1,18})")
_COLD_ID = re.compile(r"c:(-?[0-9]{1,18}):([A-Za-z0-9._:@-]{1,128})")


def parse_topic_id(item_id: str) -> tuple[int, int] | None:
    """`t:<partition>:<offset>` -> (partition, offset); None if it is not one."""
    m = _TOPIC_ID.fullmatch(item_id)
    return (int(m[1]), int(m[2])) if m else None


def parse_cold_id(item_id: str) -> tuple[int, str] | None:
    """`c:<scheduled_us>:<schedule_id>` -> (scheduled_us, schedule_id); None if not one."""
    m = _COLD_ID.fullmatch(item_id)
    return (int(m[1]), m[2]) if m else None


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and re.fullmatch(r"[0-9]{1,18}", text) else None
