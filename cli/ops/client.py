"""The HTTP API as the operator commands see it: one request, the JSON answer, or an
`OperatorError` carrying the one line to print and the exit code."""

from __future__ import annotations

import os
from typing import Any

import httpx

from cli.ops import DEFAULT_URL

UNREACHABLE = 2  # exit code: no API at that address (or a usage problem)
REFUSED = 1  # exit code: the API answered with an error


class OperatorError(Exception):
    def __init__(self, message: str, code: int = REFUSED) -> None:
        super().__init__(message)
        self.code = code


class Api:
    def __init__(self, url: str | None, token: str | None, timeout: float) -> None:
        self.url = (url or os.environ.get("SCHEDULES_API_URL") or DEFAULT_URL).rstrip("/")
        token = token or os.environ.get("SCHEDULES_API_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = timeout
        self._client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(
        self, method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = (200,)
    ) -> tuple[int, Any]:
        """`method path` with a JSON `body`; the status and JSON answer when the status is
        in `ok`, else an OperatorError naming what the API said."""
        try:
            reply = self._client.request(method, path, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise OperatorError(
                f"cannot reach the HTTP API at {self.url} ({_reason(exc)}): start the product "
                "(`make dev`, or `hybrid-scheduler serve --role api`) or point --url / "
                "SCHEDULES_API_URL at a running one",
                UNREACHABLE,
            ) from exc
        except httpx.TimeoutException as exc:
            raise OperatorError(
                f"the HTTP API at {self.url} did not answer {method} {path} within "
                f"{self.timeout:g} s (--timeout)"
            ) from exc
        except httpx.HTTPError as exc:
            raise OperatorError(
                f"the HTTP API at {self.url} failed: {_reason(exc)}", UNREACHABLE
            ) from exc
        try:
            answer = reply.json()
        except ValueError:
            answer = None
        if reply.status_code in ok and answer is not None:
            return reply.status_code, answer
        detail = answer.get("detail") if isinstance(answer, dict) else None
        if reply.status_code == 401:
            raise OperatorError(
                f"the HTTP API at {self.url} refused the request (401: {detail or 'unauthorized'})"
                ": pass --token or set SCHEDULES_API_TOKEN"
            )
        if detail is None:  # not our API's error body
            raise OperatorError(
                f"{method} {self.url}{path} answered {reply.status_code} "
                f"{reply.reason_phrase}: is that the hybrid-scheduler HTTP API?"
            )
        raise OperatorError(f"{detail} ({reply.status_code})")


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    return text or type(exc).__name__
