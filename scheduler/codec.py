"""Compact payload encoding for the hot tier.

A msgpack array without field names: a 400-byte body costs ~470 bytes stored, which keeps
the value inside jemalloc's 512-byte size class (see the memory benchmark). The
schedule_id is not stored here: it is the hash field that points at the payload.
"""

from __future__ import annotations

import msgpack

from scheduler.errors import SchedulerError
from scheduler.models import Event

VERSION = 1


def encode(ev: Event) -> bytes:
    headers: list[str] | None = None
    if ev.headers:
        headers = [s for kv in ev.headers.items() for s in kv]
    packed: bytes = msgpack.packb(
        (
            VERSION,
            ev.topic,
            ev.entity_type,
            ev.action,
            ev.body,
            ev.correlation_id,
            headers,
            round(ev.scheduled_at * 1_000_000),
            ev.max_delay_seconds,
            ev.priority,
            round(ev.created_at * 1_000_000),
        ),
        use_bin_type=True,
    )
    return packed


def decode(schedule_id: str, data: bytes) -> Event:
    """The stored event; SchedulerError (naming the id) if the bytes are not a payload
    this version wrote: a corrupt or foreign value must not pass for an event."""
    try:
        (
            version,
            topic,
            entity_type,
            action,
            body,
            corr,
            headers,
            at_us,
            max_delay,
            prio,
            created_us,
        ) = msgpack.unpackb(data, raw=False)
        if version != VERSION:
            raise SchedulerError(f"stored payload of {schedule_id} has unknown version {version}")
        return Event(
            schedule_id=schedule_id,
            topic=topic,
            body=body,
            scheduled_at=at_us / 1_000_000,
            entity_type=entity_type,
            action=action,
            correlation_id=corr,
            headers=dict(zip(headers[::2], headers[1::2], strict=True)) if headers else {},
            max_delay_seconds=max_delay,
            priority=prio,
            created_at=created_us / 1_000_000,
        )
    except SchedulerError:
        raise
    except Exception as exc:  # any shape msgpack can hold, none of them an event
        # str, not repr: the repr of a decoding error holds the bytes (the event's body)
        raise SchedulerError(
            f"stored payload of {schedule_id} is unreadable: {type(exc).__name__}: {exc}"
        ) from exc
