"""Dependencies of the routes, as `Annotated` aliases (the app factory puts the clients
on `app.state` in its lifespan; nothing here is a module-level client). They are
`async def` on purpose: FastAPI runs a plain `def` dependency in a thread pool, which
cost ~25 % of a single POST's time.

The routes get the service's Python API (`ServiceDep`) and, for what that API does not
say, narrow views built here: the health probes, the manual jobs, the analytics; no
route reads the service's runtime itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from api.console import session
from api.jobs import Jobs
from api.probes import HealthProbes
from scheduler.cold.analytics import ScheduleAnalyticsService
from scheduler.service import SchedulerService
from scheduler.settings import Settings


async def get_service(request: Request) -> SchedulerService:
    service: SchedulerService = request.app.state.service
    return service


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_health(request: Request) -> HealthProbes:
    """The probes of the service's stores, Kafka, and Temporal when the app has a client."""
    state = request.app.state
    return HealthProbes.of(state.service.runtime, state.settings, state.temporal)


async def get_jobs(request: Request) -> Jobs:
    """Manual jobs: on the Temporal client given to create_app, or None (in-process)."""
    state = request.app.state
    return Jobs(state.service, state.settings, state.temporal)


async def get_analytics(request: Request) -> Callable[[], ScheduleAnalyticsService]:
    """The analytics as an accessor, which raises ConfigError (409) when the cold tier is
    disabled: called in the route, after FastAPI has checked the query (422 first)."""
    service: SchedulerService = request.app.state.service
    return service.runtime.require_analytics


async def require_token(request: Request) -> None:
    """With SCHEDULES_API_TOKEN set, mutating endpoints need `Authorization: Bearer <token>`,
    or the console's session cookie (api/console/session.py) with, unless the method is
    safe, its CSRF token in `X-CSRF-Token`. An Authorization header decides on its own.
    (Settings straight from app.state: a nested dependency costs every POST ~20 µs.)"""
    token = (await get_settings(request)).api_token
    if not token:
        return
    authorization = request.headers.get("authorization")
    if authorization is None:
        cookie = request.cookies.get(session.COOKIE)
        if cookie is not None and session.valid_session(token, cookie):
            given = request.headers.get(session.CSRF_HEADER)
            if request.method in session.SAFE_METHODS or session.valid_csrf(token, cookie, given):
                return
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"a console session needs its CSRF token in the {session.CSRF_HEADER} header",
            )
    elif session.check_bearer(token, authorization):
        return
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "missing or wrong bearer token",
        headers={"WWW-Authenticate": "Bearer"},
    )


ServiceDep = Annotated[SchedulerService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
HealthDep = Annotated[HealthProbes, Depends(get_health)]
JobsDep = Annotated[Jobs, Depends(get_jobs)]
AnalyticsDep = Annotated[Callable[[], ScheduleAnalyticsService], Depends(get_analytics)]
Authorized = Depends(require_token)
