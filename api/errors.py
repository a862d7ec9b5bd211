"""Domain errors (scheduler/errors.py) and bad input as HTTP responses. Every 422 names
the failing field; no input reaches a 500. The bodies are `ValidationProblem` (422) and
`Problem` (every other error), and /openapi.json says so."""

from __future__ import annotations

import copy
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from redis.exceptions import BusyLoadingError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from scheduler.errors import (
    ConfigError,
    InvalidEvent,
    RecurringConflict,
    RecurringNotFound,
    ScheduleConflict,
    ServiceUnavailable,
    UnknownSchedule,
)

log = logging.getLogger(__name__)


class Problem(BaseModel):
    """The body of every error but 422 (401, 403, 404, 409, 413, 503)."""

    detail: str = Field(examples=["no schedule 'reminder-123'"])


class FieldProblem(BaseModel):
    field: str = Field(description="Dotted path of the field, e.g. `headers.priority`.")
    message: str


class ValidationProblem(BaseModel):
    """422: the request (or the event in it) is not valid."""

    detail: str = Field(
        description="One `field: message` per problem, joined by '; '.",
        examples=["delay_seconds: Input should be greater than or equal to 0"],
    )
    field: str | None = Field(
        description="The first failing field (`body` when the body is missing or not JSON); "
        "null when no single field is to blame.",
        examples=["delay_seconds"],
    )
    errors: list[FieldProblem] | None = Field(
        None, description="Every problem, when the request itself did not validate."
    )


ERRORS: dict[int, dict[str, Any]] = {
    401: {
        "model": Problem,
        "description": "SCHEDULES_API_TOKEN is set and `Authorization: Bearer <token>` is "
        "missing or wrong.",
        "content": {"application/json": {"example": {"detail": "missing or wrong bearer token"}}},
    },
    403: {
        "model": Problem,
        "description": "Sent with the console's session cookie (no Authorization header) but "
        "without the session's CSRF token in `X-CSRF-Token`.",
        "content": {
            "application/json": {
                "example": {
                    "detail": "a console session needs its CSRF token in the X-CSRF-Token header"
                }
            }
        },
    },
    413: {
        "model": Problem,
        "description": "The request body is larger than SCHEDULES_API_MAX_REQUEST_BYTES.",
        "content": {
            "application/json": {
                "example": {"detail": "request body is larger than 16777216 bytes"}
            }
        },
    },
    503: {
        "model": Problem,
        "description": "A backing service (Redis, ClickHouse; Temporal for a manual job) is "
        "unreachable, or fewer Redis replicas than SCHEDULES_REDIS_MIN_REPLICAS_ACK "
        "acknowledged the write: nothing is confirmed as stored; retry after Retry-After.",
        "content": {
            "application/json": {
                "example": {"detail": "Redis at redis://localhost:6379/0 is unreachable: ..."}
            }
        },
    },
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error codes (401, 413, 503), with body and meaning;
    401 brings 403 (the console session's CSRF check) with it."""
    if 401 in codes:
        codes = (*codes, 403)
    return {code: copy.deepcopy(ERRORS[code]) for code in codes}


def field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    """`("body", "delay_seconds")` -> `delay_seconds`; `("query", "hours")` -> `hours`."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            # A JSON syntax error's loc is ("body", <offset>): the field is the body.
            "field": "body" if e["type"] == "json_invalid" else field_of(e["loc"]),
            "message": str(e["msg"]).removeprefix("Value error, "),
        }
        for e in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
    field = errors[0]["field"] if errors else None
    return JSONResponse({"detail": detail, "field": field, "errors": errors}, status_code=422)


async def _invalid_event(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidEvent)
    return JSONResponse({"detail": str(exc), "field": exc.field}, status_code=422)


async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("backing service unavailable: %s", exc)
    return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "1"})


async def _unknown(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _conflict(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409)


async def _config(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409)


async def _http(request: Request, exc: Exception) -> Response:
    """FastAPI's and Starlette's own errors, with two corrections: a body that is not even
    text, or JSON nested too deep for the parser (FastAPI: 400), is bad input like any
    other, so 422; and a 405 lists every method
    of the path in `Allow` (Starlette lists those of the first route matching the path)."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError | RecursionError):
        message = (
            "not valid JSON (not UTF-8 text)"
            if isinstance(exc.__cause__, UnicodeDecodeError)
            else "not readable JSON (nested too deeply)"
        )
        return JSONResponse(
            {
                "detail": f"body: {message}",
                "field": "body",
                "errors": [{"field": "body", "message": message}],
            },
            status_code=422,
        )
    if exc.status_code == 405:
        path = getattr(request.scope.get("route"), "path", None)
        operations = request.app.openapi().get("paths", {}).get(path, {})
        methods = sorted(m.upper() for m in operations if m.upper() in _METHODS)
        if methods:
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(methods)}
    return await http_exception_handler(request, exc)


_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}


async def _redis_down(_: Request, exc: Exception) -> JSONResponse:
    """Redis (the hot tier) unreachable mid-request: nothing was accepted, try again."""
    log.warning("Redis unavailable: %s", exc)
    detail = f"Redis (the hot tier) is unavailable: {exc or type(exc).__name__}"
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "1"})


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(InvalidEvent, _invalid_event)
    app.add_exception_handler(ServiceUnavailable, _unavailable)
    for error in (RedisConnectionError, RedisTimeoutError, BusyLoadingError):
        app.add_exception_handler(error, _redis_down)
    app.add_exception_handler(ConfigError, _config)
    for unknown in (UnknownSchedule, RecurringNotFound):
        app.add_exception_handler(unknown, _unknown)
    for conflict in (ScheduleConflict, RecurringConflict):
        app.add_exception_handler(conflict, _conflict)
    app.add_exception_handler(StarletteHTTPException, _http)
    _document_validation_errors(app)


_FASTAPI_422 = {"$ref": "#/components/schemas/HTTPValidationError"}


def _document_validation_errors(app: FastAPI) -> None:
    """FastAPI documents its own 422 body (`HTTPValidationError`) on every operation with
    parameters; `_validation` answers with a `ValidationProblem` instead, so the schema
    says that (for every route, present and future)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        model = ValidationProblem.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(model.pop("$defs", {}))
        components["ValidationProblem"] = model
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                response = operation.get("responses", {}).get("422", {})
                content = response.get("content", {}).get("application/json", {})
                if content.get("schema") == _FASTAPI_422:
                    content["schema"] = {"$ref": "#/components/schemas/ValidationProblem"}
                    response["description"] = (
                        "Bad input: `field` names the first failing field, `detail` every problem."
                    )
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
