"""Request bodies parsed by orjson where it reads them exactly as the standard library.

FastAPI parses a JSON body with `json.loads`; for a 1,000-event batch (600 kB) that was
~2 ms of the request's ~20 ms of CPU. orjson reads the same documents ~3x faster and
to the same values, except where it refuses them (NaN, Infinity, lone surrogate
escapes, numbers beyond a double, text not in UTF-8) or reads an integer beyond 64 bits
as a float: such a body (any run of 19 digits or more, even inside a string) goes to
`json.loads` as before, so every body gets exactly the answer it got before.
tests/unit/test_fastjson.py holds the two to the same values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute

# -9223372036854775808 has 19 digits: a shorter run is always within 64 bits. Digits
# become "1", the rest "0", and a run of 19 ones is looked for (0.3 ms for 600 kB,
# where re.search(rb"\d{19}") took 5).
_DIGITS = bytes(49 if 48 <= b <= 57 else 48 for b in range(256))
_LONG_NUMBER = b"1" * 19


def loads(body: bytes) -> Any:
    """json.loads(body)'s value (and its error, if any)."""
    if _LONG_NUMBER not in body.translate(_DIGITS):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass  # the standard library's answer: a value, or the error FastAPI words
    return json.loads(body)


class _Request(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class FastJsonRoute(APIRoute):
    """An APIRoute whose requests parse their JSON body with `loads`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parse_fast(request: Request) -> Response:
            return await handler(_Request(request.scope, request.receive))

        return parse_fast
