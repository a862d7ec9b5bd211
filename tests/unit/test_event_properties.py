"""Property: for any input, the envelope parser and the request model give an Event that
publishes exactly what was sent, or an InvalidEvent; no other exception escapes."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import orjson
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.errors import InvalidEvent
from scheduler.ingest.envelope import parse_envelope
from scheduler.models import Event, _finite, parse_request, to_event
from unit.fakes import limits

NOW = 1_700_000_000.0
# Every code point, lone surrogates and control characters included.
text = st.text(st.characters(codec=None, categories=None), max_size=20)
numbers = (
    st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.just(2**64)
    | st.just(-(2**63) - 1)
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)
deep = st.integers(1, 400).map(lambda d: _nest(d))
fields = st.fixed_dictionaries(
    # Mostly well-formed around the hostile part, so that most examples reach the body,
    # the headers and the encoders rather than stop at a missing field.
    {
        "topic": st.sampled_from(["t", "a.b-c_d"])
        | text
        | st.sampled_from(["t\n", ".", "x" * 250]),
        "body": json_values | deep | text,
    },
    optional={
        "delay_seconds": st.integers(0, 10**6) | numbers | text,
        "scheduled_at": text | st.sampled_from(["2030-01-01T00:00:00Z", "2030-01-01"]),
        "schedule_id": text,
        "correlation_id": text | st.none(),
        "entity_type": text,
        "action": text,
        "headers": st.dictionaries(text, text | numbers, max_size=3) | json_values,
        "priority": numbers,
        "max_delay_seconds": numbers,
    },
)


def _nest(depth: int) -> Any:
    value: Any = {"k": 1}
    for _ in range(depth):
        value = [value]
    return value


def _record(value: bytes) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        "delayed", 0, 1, int(NOW * 1000), 0, None, value, None, -1, len(value), []
    )


def _check_accepted(data: dict[str, Any], ev: Event) -> None:
    body = data["body"]
    if isinstance(body, str):
        assert ev.body == body.encode()
    else:
        assert _finite(body)
        assert orjson.loads(ev.body) == body  # published exactly as given
    assert ev.topic == data["topic"]
    ev.topic.encode()
    for k, v in ev.headers.items():
        k.encode(), v.encode()  # every header can be sent as UTF-8


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields)
def test_request_model_gives_an_event_or_invalid_event(data: dict[str, Any]) -> None:
    try:
        ev = to_event(parse_request(data), limits(), NOW)
    except InvalidEvent:
        return
    _check_accepted(data, ev)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields)
def test_envelope_gives_an_event_or_invalid_event(data: dict[str, Any]) -> None:
    try:
        value = orjson.dumps(data)
    except orjson.JSONEncodeError:
        # orjson will not write it (surrogates, huge ints); send the stdlib's spelling.
        value = json.dumps(data).encode()
    try:
        ev = parse_envelope(_record(value), limits(), NOW)
    except InvalidEvent:
        return
    assert ev.topic == data["topic"]
    if not isinstance(data["body"], str):
        assert _finite(orjson.loads(ev.body))  # a JSON body is still JSON, and finite


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | text.map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_arbitrary_bytes_on_the_delayed_topic(value: bytes) -> None:
    with contextlib.suppress(InvalidEvent):
        parse_envelope(_record(value), limits(), NOW)
