"""Serving the app with uvicorn inside a process that already runs a SchedulerService
(`hybrid-scheduler serve --role api`, `dev`): the caller owns signals and the service."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from typing import Any

import uvicorn

from api.main import create_app
from scheduler.service import SchedulerService
from scheduler.settings import Settings


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the CLI sets `should_exit` on SIGTERM.
    `listening` is set once the socket accepts connections."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            self.listening.set()


def build_server(
    settings: Settings, service: SchedulerService, temporal: Any = None
) -> EmbeddedServer:
    app = create_app(settings, service=service, temporal=temporal)
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        # None: uvicorn's lines go through the process's handlers (cli/logs.py), in its
        # format (text or JSON) and to its log file, instead of a stderr handler of its own.
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    return EmbeddedServer(config)
