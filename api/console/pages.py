"""/ui: the console's page, its assets, and its login.

The page is one HTML file and one script (static/): the script draws every view from the
JSON API of the same origin (hash routes: #/, #/schedules, #/pauses, ...). Nothing is
loaded from another host, and the Content-Security-Policy says so to the browser: scripts,
styles and requests from this origin only, no inline script, so even markup that got into
the page could not run.

With SCHEDULES_API_TOKEN set, the page, its session (GET /ui/session) and every API call
it makes need the login session (api.console.session); without it /ui answers with the
login form. The routes are not in /openapi.json (like /docs): they serve a browser, not
API clients.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.console import session
from scheduler.settings import Settings

STATIC = Path(__file__).parent / "static"
PREFIX = "/ui"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
MAX_LOGIN_BYTES = 4096


@cache
def _file(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def _root(request: Request) -> str:
    """The path prefix a proxy serves the app under (uvicorn --root-path), else ''."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def signed_in(request: Request) -> bool:
    """No token configured, or a valid session cookie."""
    token = _settings(request).api_token
    return not token or session.valid_session(token, request.cookies.get(session.COOKIE))


def _login_page(message: str = "", status_code: int = 200) -> HTMLResponse:
    notice = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    body = _file("login.html").replace("<!-- message -->", notice)
    return HTMLResponse(body, status_code=status_code, headers=HEADERS)


def install(app: FastAPI) -> None:
    # Before the mount: the mount would take every path under /ui.
    @app.get(f"{PREFIX}/", include_in_schema=False)
    async def console_slash(request: Request) -> RedirectResponse:
        # The page loads its assets by relative URL (ui/assets/...): one address for it.
        return RedirectResponse(f"{_root(request)}{PREFIX}", status_code=308)

    @app.get(PREFIX, include_in_schema=False)
    async def console(request: Request) -> Response:
        if not signed_in(request):
            return RedirectResponse(f"{_root(request)}{PREFIX}/login", status_code=303)
        return HTMLResponse(_file("index.html"), headers=HEADERS)

    @app.get(f"{PREFIX}/login", include_in_schema=False)
    async def login_form(request: Request) -> Response:
        if not _settings(request).api_token:
            return RedirectResponse(f"{_root(request)}{PREFIX}", status_code=303)
        return _login_page()

    @app.post(f"{PREFIX}/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        """The form posts `token`: the right one sets the session cookie."""
        token = _settings(request).api_token
        if not token:
            return RedirectResponse(f"{_root(request)}{PREFIX}", status_code=303)
        raw = await request.body()
        if len(raw) > MAX_LOGIN_BYTES:
            return _login_page("The form is too large.", 413)
        given = parse_qs(raw.decode("utf-8", "replace")).get("token", [""])[0]
        if not session.check_bearer(token, f"Bearer {given}"):
            return _login_page("Wrong token.", 401)
        response = RedirectResponse(f"{_root(request)}{PREFIX}", status_code=303)
        response.set_cookie(
            session.COOKIE,
            session.new_session(token),
            max_age=session.MAX_AGE_SECONDS,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @app.post(f"{PREFIX}/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        response = RedirectResponse(f"{_root(request)}{PREFIX}/login", status_code=303)
        response.delete_cookie(session.COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @app.get(f"{PREFIX}/session", include_in_schema=False)
    async def session_info(request: Request) -> JSONResponse:
        """What the script needs: the CSRF token of this session, where the Temporal UI
        is. 401 without a session when a token is configured."""
        settings = _settings(request)
        if not signed_in(request):
            return JSONResponse({"detail": "not signed in"}, status_code=401, headers=HEADERS)
        cookie = request.cookies.get(session.COOKIE)
        body: dict[str, Any] = {
            "login": bool(settings.api_token),
            "csrf_token": (
                session.csrf_token(settings.api_token, cookie)
                if settings.api_token and cookie
                else None
            ),
            "csrf_header": session.CSRF_HEADER,
            "cold_tier": settings.cold_tier_enabled,
            "temporal_ui": _temporal_ui(settings),
        }
        return JSONResponse(body, headers=HEADERS)

    app.mount(f"{PREFIX}/assets", StaticFiles(directory=STATIC / "assets"), name="console-assets")


def _temporal_ui(settings: Settings) -> dict[str, str] | None:
    """Links into the Temporal UI for the background jobs (SCHEDULES_TEMPORAL_UI_URL)."""
    if not settings.temporal_ui_url:
        return None
    base = f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{settings.temporal_namespace}"
    return {"workflows": f"{base}/workflows", "schedules": f"{base}/schedules"}
