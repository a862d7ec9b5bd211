"""`publish_with_delay`: how a service schedules an event through Kafka."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from scheduler.models import new_schedule_id, parse_request
from scheduler.settings import default

# KAFKA_DELAYED_TOPIC_NAME's default: a producing service need not build Settings.
DELAYED_TOPIC: str = default("delayed_topic")


async def publish_with_delay(
    producer: AIOKafkaProducer,
    *,
    topic: str,
    body: str | dict[str, Any] | list[Any],
    delay_seconds: float | None = None,
    scheduled_at: datetime | None = None,
    entity_type: str = "",
    action: str = "",
    correlation_id: str | None = None,
    headers: dict[str, str] | None = None,
    priority: int = 0,
    max_delay_seconds: int | None = None,
    schedule_id: str | None = None,
    on_conflict: str = "keep",
    delayed_topic: str = DELAYED_TOPIC,
) -> str:
    """Validate the event here (so mistakes fail in the caller, not in a dead-letter
    topic), put its envelope on the delayed topic, and return its schedule_id.
    `on_conflict="replace"`: a pending event under schedule_id becomes this one."""
    envelope: dict[str, Any] = {
        "topic": topic,
        "body": body,
        "entity_type": entity_type,
        "action": action,
        "schedule_id": schedule_id or new_schedule_id(),
        "priority": priority,
    }
    if delay_seconds is not None:
        envelope["delay_seconds"] = delay_seconds
    if scheduled_at is not None:
        envelope["scheduled_at"] = scheduled_at.isoformat()
    if correlation_id is not None:
        envelope["correlation_id"] = correlation_id
    if headers:
        envelope["headers"] = headers
    if max_delay_seconds is not None:
        envelope["max_delay_seconds"] = max_delay_seconds
    if on_conflict != "keep":
        envelope["on_conflict"] = on_conflict
    req = parse_request(envelope)  # raises InvalidEvent naming the field
    await producer.send_and_wait(
        delayed_topic, orjson.dumps(envelope), key=envelope["schedule_id"].encode()
    )
    assert req.schedule_id is not None
    return req.schedule_id
