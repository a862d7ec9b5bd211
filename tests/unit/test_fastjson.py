"""scheduler.fastpath.loads_json (the HTTP API's JSON bodies, api/fastjson.py) gives every
text exactly json.loads's answer: the same value (ints stay ints, however long) or the
same error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.fastpath import loads_json as loads

text = st.text(st.characters(codec=None, categories=None), max_size=10)
numbers = (
    st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
)
values = st.recursive(
    st.none() | st.booleans() | numbers | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)


def answer(parse: Any, doc: bytes) -> tuple[str, str]:
    try:
        return ("value", repr(parse(doc)))  # repr: 1 vs 1.0, nan, -0.0
    except json.JSONDecodeError as exc:
        return ("error", f"{type(exc).__name__}: {exc}")
    except (ValueError, RecursionError) as exc:
        return ("error", type(exc).__name__)


@pytest.mark.parametrize(
    "doc",
    [
        b'{"events": [{"topic": "t", "body": "x", "delay_seconds": 60}]}',
        b"18446744073709551615", b"18446744073709551616", b"-9223372036854775808",
        b"-9223372036854775809", b"-99999999999999999999", b"123456789012345678901234567890",
        b'"12345678901234567890"', b"0.12345678901234567890", b"1e400", b"-1e400", b"1e-400",
        b"NaN", b"Infinity", b"-Infinity", b'"\\ud800"', b'"\\udc00\\ud800"', b'{"a":1,"a":2}',
        b"-0", b"-0.0", b"1.0", b"1E2", b"", b" ", b"{", b"[1,]", b'{"a" 1}', b"\xff",
        b'"\xed\xa0\x80"', "\"é\"".encode("utf-16"), b"\xef\xbb\xbf[1]", b"[" * 2000,
        b"[" * 100_000, b"[" * 900 + b"]" * 900, b"[" * 1500 + b"]" * 1500, b"nul",
        b"[1] [2]", b'"\\u00e9\\n"', b"\t[1]\n",
    ],
)  # fmt: skip
def test_bodies_get_the_standard_librarys_answer(doc: bytes) -> None:
    assert answer(loads, doc) == answer(json.loads, doc)


@settings(max_examples=500, derandomize=True)
@given(values)
def test_any_json_gets_the_standard_librarys_answer(value: Any) -> None:
    doc = json.dumps(value).encode()  # NaN and Infinity as the standard library writes them
    assert answer(loads, doc) == answer(json.loads, doc)
