"""Serving the app with uvicorn inside a process that already runs a SchedulerService
(`hybrid-scheduler serve --role api`, `dev`): the caller owns signals and the service."""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import Any

import uvicorn

from api.main import create_app
from scheduler.service import SchedulerService
from scheduler.settings import Settings


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the CLI sets `should_exit` on SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def build_server(
    settings: Settings, service: SchedulerService, temporal: Any = None
) -> EmbeddedServer:
    app = create_app(settings, service=service, temporal=temporal)
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        lifespan="on",
    )
    return EmbeddedServer(config)
