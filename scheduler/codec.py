"""Compact payload encoding for the hot tier.

A msgpack array without field names, whose first field says how the body is held:

  [1, topic, entity_type, action, body, correlation_id, headers, at_us, max_delay,
   priority, created_us]                                 the body as given (PLAIN)
  [2, ...same fields, the body compressed with raw deflate...]             (DEFLATED)

The topic stays the second field, a plain msgpack str, in both: the Lua scripts read it
(lua/prelude.lua topic_of). Redis keeps a value in the next jemalloc size class up (...,
320, 384, 448, 512 bytes): a typical 400-byte JSON body takes ~500 bytes stored plain
(the 512 class) and ~370 deflated (384), which is what brings a pending event under 600
bytes (see the memory benchmark). Compression costs ~5 µs per event when stored and
~2 µs when read, so it is used only where it pays: a body of at least
`compress_min_bytes` (SCHEDULES_HOT_COMPRESS_MIN_BYTES) that deflate shrinks by at
least an eighth; any other body is stored PLAIN, byte for byte as version 1 wrote it, so
payloads stored before compression existed still decode and older readers can read
every PLAIN payload. The schedule_id is not stored here: it is the hash field that
points at the payload.
"""

from __future__ import annotations

import zlib

import msgpack

from scheduler.errors import SchedulerError
from scheduler.models import Event

PLAIN = 1  # the body as given (the only format before compression)
DEFLATED = 2  # the body as raw deflate (no zlib header: 6 bytes fewer)
FORMATS = (PLAIN, DEFLATED)


def _deflate(body: bytes) -> bytes:
    # Level 1: for a few hundred bytes the higher levels find nothing more. The window
    # need only span the body (twice it: zlib keeps 262 bytes of look-ahead), and a
    # small window and memLevel keep zlib's per-call set-up small (~12 KB, not ~260 KB).
    window = max(9, min(15, len(body).bit_length() + 1))
    c = zlib.compressobj(1, zlib.DEFLATED, -window, 4)
    return c.compress(body) + c.flush()


def encode(ev: Event, compress_min_bytes: int = 0) -> bytes:
    """The payload of `ev`; its body deflated when it is at least `compress_min_bytes`
    long (0: never) and deflate saves at least an eighth of it."""
    headers: list[str] | None = None
    if ev.headers:
        headers = [s for kv in ev.headers.items() for s in kv]
    body, form = ev.body, PLAIN
    if compress_min_bytes and len(body) >= compress_min_bytes:
        packed = _deflate(body)
        if len(packed) <= len(body) - (len(body) >> 3):
            body, form = packed, DEFLATED
    data: bytes = msgpack.packb(
        (
            form,
            ev.topic,
            ev.entity_type,
            ev.action,
            body,
            ev.correlation_id,
            headers,
            round(ev.scheduled_at * 1_000_000),
            ev.max_delay_seconds,
            ev.priority,
            round(ev.created_at * 1_000_000),
        ),
        use_bin_type=True,
    )
    return data


def _headers(flat: list[str]) -> dict[str, str]:
    if len(flat) == 2:  # the common case: one header
        return {flat[0]: flat[1]}
    if len(flat) % 2:
        raise ValueError(f"{len(flat)} header strings, not name-value pairs")
    pairs = iter(flat)
    return dict(zip(pairs, pairs, strict=True))


def decode(schedule_id: str, data: bytes) -> Event:
    """The stored event; SchedulerError (naming the id) if the bytes are not a payload
    this version wrote: a corrupt or foreign value must not pass for an event."""
    try:
        (
            form,
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
        if form != PLAIN:
            if form != DEFLATED:
                raise SchedulerError(f"stored payload of {schedule_id} has unknown version {form}")
            body = zlib.decompress(body, -15)  # any window up to the largest
        # Positional: a third of the keyword form's cost, on the executor's hot path
        # (every event fired is decoded); the round-trip tests pin the field order.
        return Event(
            schedule_id,
            topic,
            body,
            at_us / 1_000_000,
            entity_type,
            action,
            corr,
            _headers(headers) if headers else {},
            max_delay,
            prio,
            created_us / 1_000_000,
        )
    except SchedulerError:
        raise
    except Exception as exc:  # any shape msgpack can hold, none of them an event
        # str, not repr: the repr of a decoding error holds the bytes (the event's body)
        raise SchedulerError(
            f"stored payload of {schedule_id} is unreadable: {type(exc).__name__}: {exc}"
        ) from exc
