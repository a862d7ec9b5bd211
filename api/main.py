"""The app factory: `create_app(settings)` builds the FastAPI app; its lifespan starts a
SchedulerService (API only unless `roles` are given) and stops it on shutdown.

    app = create_app(load_settings())                      # uvicorn api.main:app style
    app = create_app(settings, roles=["executor"], temporal=client)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from api import docs, errors
from api.console import pages as console
from api.limits import BodySizeLimit
from api.observe import RequestMetrics
from api.routes import deadletters, events, listing, monitoring, ratelimits, recurring, schedules
from scheduler.service import SchedulerService
from scheduler.settings import Settings


def create_app(
    settings: Settings,
    *,
    roles: Iterable[str] = (),
    temporal: Any = None,
    service: SchedulerService | None = None,
) -> FastAPI:
    """`temporal`: a connected temporalio Client; manual sync/cleanup then run as
    workflows, otherwise in this process. `service`: an already started service to serve
    (its owner starts and stops it), instead of one of the app's own."""
    roles = list(roles)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if service is not None:
            app.state.service = service
            yield
            return
        own = SchedulerService(settings)
        await own.start(roles)
        app.state.service = own
        try:
            yield
        finally:
            await own.stop()

    app = FastAPI(
        title="hybrid-scheduler",
        summary="Schedule Kafka events for later; Redis hot tier, ClickHouse cold tier.",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc without a CDN: api/docs.py
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.temporal = temporal
    errors.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.api_max_request_bytes)
    app.add_middleware(RequestMetrics)  # outermost: also counts the 413s
    # Scheduling first: it is the hot path, and routes are tried in order. The monitoring
    # paths have two segments, so /api/v1/schedules/{schedule_id} never takes them.
    app.include_router(schedules.router)
    app.include_router(listing.router)  # GET /api/v1/schedules
    app.include_router(monitoring.router)
    app.include_router(ratelimits.router)
    app.include_router(recurring.router)
    app.include_router(events.router)
    app.include_router(deadletters.router)
    docs.install(app)
    console.install(app)
    _document_limits(app, settings)
    return app


def _document_limits(app: FastAPI, settings: Settings) -> None:
    """/openapi.json states the limits this deployment's settings set where JSON Schema can
    say them: the most headers an event may carry, the most events in a batch."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema["components"]["schemas"]
        components["ScheduleRequest"]["properties"]["headers"]["maxProperties"] = (
            settings.max_headers
        )
        components["BatchRequest"]["properties"]["events"]["maxItems"] = settings.api_max_batch
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
