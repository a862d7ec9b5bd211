"""/docs and /redoc work without internet: every script, style and icon they load is served
by the app (api/docs.py), none from another host; `GET /` redirects to /docs. The last
test renders /docs in headless Chromium against a real `serve --role api` process, every
request outside 127.0.0.1 refused, and finds every operation on the page."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import eventually, role_process

from devstack.services import free_port
from scheduler.settings import Settings

CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
CHROMIUM = "/usr/bin/chromium"


class References(HTMLParser):
    """Every URL a page loads or links: src= and href= attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in {"src", "href"} and v]


def references(html: str) -> list[str]:
    parser = References()
    parser.feed(html)
    return parser.urls


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_doc_pages_load_only_same_origin_assets(api: httpx.AsyncClient, page: str) -> None:
    response = await api.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    # No absolute URL at all: nothing to fetch from a CDN, fonts or a validator.
    assert not re.search(r"(https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]", html), html
    assets = references(html)
    assert assets, html
    scripts = [url for url in assets if url.endswith(".js")]
    assert scripts, html
    for url in assets:
        assert url.startswith("/") and not url.startswith("//"), url
        got = await api.get(url)
        assert got.status_code == 200, url
        suffix = Path(urlsplit(url).path).suffix
        assert CONTENT_TYPES[suffix] in got.headers["content-type"], (url, got.headers)
        assert len(got.content) > 1000 if suffix != ".png" else got.content.startswith(b"\x89PNG")
    # The spec the page reads is this app's.
    assert "'/openapi.json'" in html or '"/openapi.json"' in html


async def test_swagger_ui_sends_nothing_to_the_online_validator(api: httpx.AsyncClient) -> None:
    assert '"validatorUrl": null' in (await api.get("/docs")).text


async def test_redoc_is_served_without_its_cdn_logo(api: httpx.AsyncClient) -> None:
    script = (await api.get("/docs-assets/redoc.standalone.js")).content
    assert b"cdn.redoc.ly" not in script
    assert len(script) > 500_000  # the whole bundle


async def test_root_redirects_to_the_docs(api: httpx.AsyncClient) -> None:
    response = await api.get("/")
    assert response.status_code == 307
    assert response.headers["location"] == "/docs"


async def test_openapi_json_is_unchanged_by_the_pages(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    paths = set(spec["paths"])
    assert not {"/", "/docs", "/redoc", "/docs/oauth2-redirect"} & paths
    assert not any(p.startswith("/docs-assets") for p in paths)
    assert "/api/v1/schedules" in paths


async def test_the_oauth2_redirect_page_is_served(api: httpx.AsyncClient) -> None:
    response = await api.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert "http://" not in response.text and "https://" not in response.text


# --- in a browser ------------------------------------------------------------------------


def browser_or_skip() -> str:
    try:
        import playwright  # noqa: F401
    except ImportError:
        reason = "playwright is not installed (pip install -e '.[dev]')"
    else:
        if Path(CHROMIUM).exists() or shutil.which("chromium"):
            return CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))
        reason = "chromium is not installed: `apt-get install chromium` (scripts/bootstrap.sh)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
async def served_api(settings: Settings, tmp_path: Path) -> AsyncIterator[str]:
    """A real `hybrid-scheduler serve --role api` on 127.0.0.1; yields its base URL."""
    port = free_port()
    log = tmp_path / "api.log"
    proc = role_process(
        settings,
        "api",
        stderr=log.open("wb"),
        SCHEDULES_API_HOST="127.0.0.1",
        SCHEDULES_API_PORT=str(port),
    )
    base = f"http://127.0.0.1:{port}"

    async def up() -> bool:
        assert proc.poll() is None, log.read_text()
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"{base}/openapi.json", timeout=2)).status_code == 200
        except httpx.TransportError:
            return False

    try:
        assert await eventually(up, timeout=30), log.read_text()
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 30)


async def test_docs_render_in_headless_chromium_with_no_network_but_localhost(
    served_api: str,
) -> None:
    executable = browser_or_skip()
    from playwright.async_api import Route, async_playwright

    async with httpx.AsyncClient() as client:
        spec = (await client.get(f"{served_api}/openapi.json")).json()
    operations = [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert len(operations) > 5

    allowed = urlsplit(served_api).netloc
    served: list[str] = []
    refused: list[str] = []

    async def only_localhost(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).netloc == allowed or url.startswith(("data:", "blob:")):
            served.append(url)
            await route.continue_()
        else:
            refused.append(url)
            await route.abort("internetdisconnected")

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=executable,
            args=[
                "--no-sandbox",  # tests may run as root
                "--disable-gpu",
                "--disable-dev-shm-usage",
                # Belt and braces: no name resolves, so nothing could leave the host even
                # if a request escaped the route below.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            ],
        )
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.route("**/*", only_localhost)

            await page.goto(f"{served_api}/", wait_until="load")
            assert urlsplit(page.url).path == "/docs"  # GET / redirected
            await page.wait_for_selector(".opblock", timeout=30_000)
            blocks = page.locator(".opblock")
            shown = set()
            for i in range(await blocks.count()):
                block = blocks.nth(i)
                method = (await block.locator(".opblock-summary-method").inner_text()).strip()
                path = await block.locator(".opblock-summary-path").get_attribute("data-path")
                shown.add((method.upper(), path))
            assert shown == set(operations)
            assert "hybrid-scheduler" in await page.locator(".info .title").inner_text()

            await page.goto(f"{served_api}/redoc", wait_until="load")
            await page.wait_for_selector("[data-section-id^='operation/']", timeout=30_000)
            sections = await page.locator("[data-section-id^='operation/']").count()
            assert sections == len(operations)
            assert errors == []
        finally:
            await browser.close()

    assert refused == []
    assert any(url.endswith("/docs-assets/swagger-ui-bundle.js") for url in served)
    assert any(url.endswith("/docs-assets/redoc.standalone.js") for url in served)
    assert any(url.endswith("/openapi.json") for url in served)
