"""Domain errors (scheduler/errors.py) and bad input as HTTP responses. Every 422 names
the failing field; no input reaches a 500."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from scheduler.errors import BeyondHorizon, ConfigError, InvalidEvent, ServiceUnavailable

log = logging.getLogger(__name__)


def field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    """`("body", "delay_seconds")` -> `delay_seconds`; `("query", "hours")` -> `hours`."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": field_of(e["loc"]), "message": str(e["msg"]).removeprefix("Value error, ")}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
    field = errors[0]["field"] if errors else None
    return JSONResponse({"detail": detail, "field": field, "errors": errors}, status_code=422)


async def _invalid_event(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidEvent)
    field = exc.field or ("scheduled_at" if isinstance(exc, BeyondHorizon) else None)
    return JSONResponse({"detail": str(exc), "field": field}, status_code=422)


async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("backing service unavailable: %s", exc)
    return JSONResponse({"detail": str(exc)}, status_code=503)


async def _config(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(InvalidEvent, _invalid_event)
    app.add_exception_handler(ServiceUnavailable, _unavailable)
    app.add_exception_handler(ConfigError, _config)
