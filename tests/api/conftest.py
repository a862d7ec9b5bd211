"""The app on the session's real services (tests/conftest.py), through httpx's ASGI
transport; the lifespan runs, so each test gets a started SchedulerService."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.main import create_app
from scheduler.settings import Settings
from tests.orchestration.conftest import (  # noqa: F401 (Temporal fixtures, for jobs)
    client,
    ops,
    orch_settings,
    temporal_server,
    worker,
)

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    async with AsyncExitStack() as stack:

        async def make(settings: Settings, **kw: Any) -> httpx.AsyncClient:
            app: FastAPI = create_app(settings, **kw)
            ctx = app.router.lifespan_context(app)
            await stack.enter_async_context(ctx)
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test"
            )
            await stack.enter_async_context(client)
            return client

        yield make


@pytest.fixture
async def api(make_client: MakeClient, settings: Settings) -> httpx.AsyncClient:
    return await make_client(settings)


@pytest.fixture
async def hybrid_api(make_client: MakeClient, hybrid_settings: Settings) -> httpx.AsyncClient:
    return await make_client(hybrid_settings)
