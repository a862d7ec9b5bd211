"""The hot tier's payload encoding (scheduler/codec.py): what goes in comes back out."""

from __future__ import annotations

import msgpack
import pytest

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
def test_round_trip(ev: Event) -> None:
    data = codec.encode(ev)
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


def test_unknown_version_is_refused() -> None:
    fields = list(msgpack.unpackb(codec.encode(make_event()), raw=False))
    fields[0] = codec.VERSION + 1
    data = msgpack.packb(fields, use_bin_type=True)
    with pytest.raises(SchedulerError, match=f"unknown version {codec.VERSION + 1}"):
        codec.decode("s-9", data)


@pytest.mark.parametrize("headers", [["a", "b", "c"], 5], ids=["odd-length", "not-a-list"])
def test_malformed_headers_are_a_clear_error(headers: object) -> None:
    fields = list(msgpack.unpackb(codec.encode(make_event()), raw=False))
    fields[6] = headers
    with pytest.raises(SchedulerError, match="unreadable"):
        codec.decode("s-9", msgpack.packb(fields, use_bin_type=True))
