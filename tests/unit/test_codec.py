"""The hot tier's payload encoding (scheduler/codec.py): what goes in comes back out."""

from __future__ import annotations

import os
import zlib

import msgpack
import pytest

from bench.common import BODY as JSON_BODY  # the memory benchmark's 400-byte JSON body
from scheduler import codec
from scheduler.errors import SchedulerError
from scheduler.models import Event
from unit.fakes import make_event


@pytest.mark.parametrize(
    "ev",
    [
        make_event(),
        make_event(correlation_id=None, headers={}, entity_type="", action=""),
        make_event(body=b"", priority=2**31 - 1, max_delay_seconds=0),
        make_event(body=bytes(range(256)) * 40, priority=-(2**31) + 1),
        make_event(headers={"\u00fc\u00f1\u00ee": "\U0001f600", "": "", "k": "v" * 1000}),
        make_event(at=0.0, created_at=0.0),
        make_event(at=253402300799.999999),  # ClickHouse's DateTime64 maximum
    ],
    ids=["full", "minimal", "empty-body", "binary-body", "unicode-headers", "epoch", "max"],
)
@pytest.mark.parametrize("compress_min_bytes", [0, 1], ids=["plain", "compressing"])
def test_round_trip(ev: Event, compress_min_bytes: int) -> None:
    data = codec.encode(ev, compress_min_bytes)
    assert isinstance(data, bytes)
    back = codec.decode(ev.schedule_id, data)
    assert back == ev
    assert type(back.body) is bytes  # not str: bodies are arbitrary bytes


def test_times_are_kept_to_the_microsecond() -> None:
    ev = make_event(at=1_700_000_000.1234567, created_at=1_699_000_000.0000004)
    back = codec.decode(ev.schedule_id, codec.encode(ev))
    assert round(back.scheduled_at * 1e6) == 1_700_000_000_123_457
    assert round(back.created_at * 1e6) == 1_699_000_000_000_000
    assert back.scheduled_at_datetime == ev.scheduled_at_datetime


def test_the_schedule_id_is_not_in_the_payload() -> None:
    """It is the hash field; the payload decodes under whatever id it is stored by."""
    data = codec.encode(make_event("the-original-id"))
    assert b"the-original-id" not in data
    assert codec.decode("other", data).schedule_id == "other"


def test_a_400_byte_body_stays_in_the_512_byte_class() -> None:
    ev = make_event(body=b"x" * 400, headers={})
    assert len(codec.encode(ev)) < 512


@pytest.mark.parametrize(
    "data",
    [b"", b"\xc1", b"\x93\x01\x02\x03", msgpack.packb(5), b"\x9b" + b"\x01" * 5],
    ids=["empty", "reserved-byte", "too-few-fields", "not-an-array", "truncated"],
)
def test_unreadable_payload_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(SchedulerError, match="stored payload of s-9 is unreadable"):
        codec.decode("s-9", data)


@pytest.mark.parametrize("version", [0, 3, 255])
def test_unknown_version_is_refused(version: int) -> None:
    fields = list(msgpack.unpackb(codec.encode(make_event()), raw=False))
    fields[0] = version
    data = msgpack.packb(fields, use_bin_type=True)
    with pytest.raises(SchedulerError, match=f"s-9 has unknown version {version}"):
        codec.decode("s-9", data)


@pytest.mark.parametrize("headers", [["a", "b", "c"], 5], ids=["odd-length", "not-a-list"])
def test_malformed_headers_are_a_clear_error(headers: object) -> None:
    fields = list(msgpack.unpackb(codec.encode(make_event()), raw=False))
    fields[6] = headers
    with pytest.raises(SchedulerError, match="unreadable"):
        codec.decode("s-9", msgpack.packb(fields, use_bin_type=True))


def _fields(data: bytes) -> list[object]:
    return list(msgpack.unpackb(data, raw=False))


def test_a_compressible_body_is_stored_deflated_in_the_384_byte_class() -> None:
    """Deflated, a typical 400-byte JSON body's payload takes 384 bytes in Redis (plus
    the 6 of its string header), not 512: what keeps a pending event under 600."""
    assert len(JSON_BODY) == 400
    ev = make_event(body=JSON_BODY, correlation_id="reminder-199999", headers={"k": "bench"})
    plain, packed = codec.encode(ev), codec.encode(ev, 256)
    assert _fields(plain)[0] == codec.PLAIN
    assert _fields(packed)[0] == codec.DEFLATED
    assert len(plain) + 6 > 448
    assert len(packed) + 6 <= 384
    assert codec.decode(ev.schedule_id, packed) == ev


def test_the_topic_stays_the_second_field_as_a_plain_str() -> None:
    """lua/prelude.lua topic_of reads it from bytes 3 on, whatever the body holds."""
    for topic in ("t", "user.notifications", "x" * 40, "y" * 300):
        data = codec.encode(make_event(topic=topic, body=JSON_BODY), 1)
        assert _fields(data)[0] == codec.DEFLATED
        assert data[:2] == b"\x9b\x02"
        assert _fields(data)[1] == topic
        start = 3 if len(topic) < 32 else 4 if len(topic) < 256 else 5
        assert data[start : start + len(topic)] == topic.encode()


@pytest.mark.parametrize(
    "body",
    [JSON_BODY[:255], os.urandom(400), b""],
    ids=["shorter-than-the-minimum", "incompressible", "empty"],
)
def test_a_body_compression_would_not_pay_for_is_stored_as_version_1_stored_it(
    body: bytes,
) -> None:
    ev = make_event(body=body)
    assert codec.encode(ev, 256) == codec.encode(ev, 0)
    assert _fields(codec.encode(ev, 256))[0] == codec.PLAIN


def test_a_body_deflate_shrinks_by_less_than_an_eighth_is_stored_plain() -> None:
    """Random base64 deflates by a sixth (6 bits a byte): worth it; random bytes not."""
    import base64

    b64 = base64.b64encode(os.urandom(300))
    assert _fields(codec.encode(make_event(body=b64), 256))[0] == codec.DEFLATED
    random = os.urandom(400)
    assert _fields(codec.encode(make_event(body=random), 256))[0] == codec.PLAIN


def test_a_large_body_round_trips_deflated() -> None:
    body = JSON_BODY * 2600  # ~1 MB, the default SCHEDULES_MAX_BODY_BYTES
    data = codec.encode(make_event(body=body), 256)
    assert len(data) < len(body) // 10
    assert codec.decode("s-1", data).body == body


# Version 1's payload of make_event(body=V1_BODY), as it was written before compression
# existed (an upgrade finds these in Redis with events pending): a 279-byte body, plain.
V1_BODY = b'{"user_id": 123, "message": "' + b"a reminder of your appointment " * 8 + b'"}'
V1_PAYLOAD = (
    bytes.fromhex(
        "9b01b2757365722e6e6f74696669636174696f6e73a475736572ad73656e645f72656d696e646572c50117"
    )
    + V1_BODY
    + bytes.fromhex(
        "a6636f72722d3994a87072696f72697479a468696768a57472616365a368c3a9"
        "cf00060a2418202240cd0258f9cf00060a23dc8b1720"
    )
)


@pytest.mark.parametrize("compress_min_bytes", [0, 256])
def test_payloads_version_1_wrote_still_decode(compress_min_bytes: int) -> None:
    assert codec.decode("s-1", V1_PAYLOAD) == make_event(body=V1_BODY)
    # ...and a body not worth compressing is still written exactly so (older readers)
    short = make_event(body=V1_BODY[:200])
    assert codec.encode(short, compress_min_bytes) == V1_PAYLOAD.replace(
        b"\xc5\x01\x17" + V1_BODY, b"\xc4\xc8" + V1_BODY[:200]
    )


@pytest.mark.parametrize(
    "body",
    [
        b"not deflate at all \xff\xfe",
        zlib.compress(JSON_BODY, 1, -10)[:-20],
        b"",
    ],
    ids=["garbage", "truncated", "empty"],
)
def test_corrupt_compressed_body_is_a_clear_error_naming_the_id(body: bytes) -> None:
    fields = _fields(codec.encode(make_event(body=JSON_BODY), 1))
    fields[4] = body
    data = msgpack.packb(fields, use_bin_type=True)
    with pytest.raises(SchedulerError, match="stored payload of s-9 is unreadable: error"):
        codec.decode("s-9", data)
