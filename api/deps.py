"""Dependencies of the routes, as `Annotated` aliases (the app factory puts the clients
on `app.state` in its lifespan; nothing here is a module-level client). They are
`async def` on purpose: FastAPI runs a plain `def` dependency in a thread pool, which
cost ~25 % of a single POST's time."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status

from scheduler.service import SchedulerService
from scheduler.settings import Settings


async def get_service(request: Request) -> SchedulerService:
    service: SchedulerService = request.app.state.service
    return service


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_temporal(request: Request) -> Any:
    """The Temporal client given to create_app, or None (then jobs run in-process)."""
    return request.app.state.temporal


async def require_token(request: Request) -> None:
    """With SCHEDULES_API_TOKEN set, mutating endpoints need `Authorization: Bearer <token>`.
    (Settings straight from app.state: a nested dependency costs every POST ~20 µs.)"""
    token = (await get_settings(request)).api_token
    if not token:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


ServiceDep = Annotated[SchedulerService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TemporalDep = Annotated[Any, Depends(get_temporal)]
Authorized = Depends(require_token)
