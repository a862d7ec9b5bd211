"""The API's documentation pages, served whole by the app itself: /docs (Swagger UI) and
/redoc (ReDoc) load their scripts, styles and icon from /docs-assets/, files shipped in
the `fastapi-offline` package, never from a CDN, so they work on a machine without
internet. `GET /` redirects to /docs. /openapi.json is FastAPI's own.

Nothing on the pages reaches another host: Swagger UI's validator badge is off (it would
send the spec's URL to validator.swagger.io), ReDoc loads no Google Fonts, and ReDoc's
script is served with its one hard-wired CDN address (the Redocly logo of its sidebar,
https://cdn.redoc.ly/redoc/logo-mini.svg) replaced by an empty image, which ReDoc
then leaves out.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/docs-assets"
DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
REDOC_JS = "redoc.standalone.js"
REDOC_CDN_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"


@cache
def redoc_script() -> bytes:
    """ReDoc's bundle without its CDN logo (an empty data: image instead)."""
    return (ASSETS / REDOC_JS).read_bytes().replace(REDOC_CDN_LOGO, b"data:,")


def install(app: FastAPI) -> None:
    """Add the pages to an app created with docs_url=None and redoc_url=None."""
    assert app.docs_url is None and app.redoc_url is None, "FastAPI's CDN pages are on"
    assert app.openapi_url is not None
    openapi_url = app.openapi_url
    parameters: dict[str, Any] = {"validatorUrl": None, **(app.swagger_ui_parameters or {})}

    # Before the mount, which would otherwise serve the file as shipped.
    @app.get(f"{ASSETS_URL}/{REDOC_JS}", include_in_schema=False)
    async def redoc_js() -> Response:
        return Response(redoc_script(), media_type="text/javascript; charset=utf-8")

    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get("/", include_in_schema=False)
    async def root(request: Request) -> RedirectResponse:
        return RedirectResponse(f"{_root(request)}{DOCS_URL}", status_code=307)

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_URL}",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters=parameters,
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/{REDOC_JS}",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )


def _root(request: Request) -> str:
    """The path prefix a proxy serves the app under (uvicorn --root-path), else ''."""
    return str(request.scope.get("root_path", "")).rstrip("/")
