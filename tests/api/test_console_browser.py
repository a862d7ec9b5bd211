"""The console in headless Chromium (Debian's, driven by Playwright) against a real
`serve --role api --role executor` on the session's Redis, Kafka and ClickHouse (through
the HTTP shim), with SCHEDULES_API_TOKEN set: every request outside the API's own
address is refused and recorded, console errors are collected, and a screenshot of each
page is saved under build/console-screenshots/ (docs/console-*.png are copies)."""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import eventually, role_process
from temporalio.client import Client

from devstack.http_shim import HttpShim
from scheduler.cold.clickhouse import ClickHouse
from scheduler.hot.store import HotStore
from scheduler.kafka import ensure_topics
from scheduler.settings import Settings
from tests.api.test_docs import browser_or_skip
from tests.deadletters.helpers import MAX_ATTEMPTS, doomed, exhaust
from tests.orchestration.conftest import delete_schedules

TOKEN = "console-s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
S = "/api/v1/schedules"
MON = f"{S}/monitoring"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "console-screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Belt and braces: no name resolves, so nothing could leave the host even if a request
    # escaped the route below.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


@dataclass
class Console:
    base: str
    http: httpx.AsyncClient  # the API with the bearer token, for set-up and checks


@asynccontextmanager
async def serving(
    settings: Settings, clickhouse_url: str, database: str, log: Path, *roles: str, **env: str
) -> AsyncIterator[Console]:
    """A real `serve --role api --role executor [--role ...]` with the token, the cold tier
    through `clickhouse_url`, and links to a Temporal UI."""
    from devstack.services import free_port

    port = free_port()
    proc = role_process(
        settings,
        ["api", "executor", *roles],
        stderr=log.open("wb"),
        SCHEDULES_API_HOST="127.0.0.1",
        SCHEDULES_API_PORT=str(port),
        SCHEDULES_API_TOKEN=TOKEN,
        SCHEDULES_METRICS_PORT="0",
        SCHEDULES_COLD_TIER_ENABLED="true",
        CLICKHOUSE_URL=f"{clickhouse_url}/{database}",
        SCHEDULES_CLICKHOUSE_DATABASE=database,
        SCHEDULES_ANALYTICS_FLUSH_INTERVAL="0.2",
        SCHEDULES_REDIS_PROCESSING_INTERVAL="0.5",
        # Links only: the test checks them, the browser never follows them.
        SCHEDULES_TEMPORAL_UI_URL="http://127.0.0.1:8233",
        **env,
    )
    base = f"http://127.0.0.1:{port}"

    def logged() -> str:
        return log.read_text()

    async with httpx.AsyncClient(base_url=base, headers=AUTH, timeout=30) as http:

        async def up() -> bool:
            assert proc.poll() is None, logged()
            try:
                return (await http.get(f"{MON}/health")).status_code == 200
            except httpx.TransportError:
                return False

        try:
            assert await eventually(up, timeout=30), logged()
            yield Console(base, http)
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(proc.wait, 30)


@pytest.fixture
async def console(
    settings: Settings, shim: HttpShim, cold_db: ClickHouse, tmp_path: Path
) -> AsyncIterator[Console]:
    async with serving(settings, shim.url, cold_db.database, tmp_path / "serve.log") as c:
        yield c


@pytest.fixture
async def console_with_worker(
    orch_settings: Settings, client: Client, shim: HttpShim, tmp_path: Path
) -> AsyncIterator[Console]:
    """The same with the Temporal worker in the process (as `make dev`): the jobs run as
    workflows, which the overview lists. No job schedule before or after (the worker
    makes them)."""
    s = orch_settings
    await delete_schedules(client)
    async with serving(
        s,
        shim.url,
        str(s.clickhouse_database),
        tmp_path / "serve.log",
        "worker",
        TEMPORAL_ADDRESS=s.temporal_address,
        SCHEDULES_TEMPORAL_TASK_QUEUE=s.temporal_task_queue,
        SCHEDULES_CLICKHOUSE_SYNC_INTERVAL="3600",
        SCHEDULES_DEV_DIR=str(tmp_path / "dev"),
    ) as c:
        yield c
    await delete_schedules(client)


@dataclass
class Browser:
    page: Any  # playwright.async_api.Page
    base: str
    errors: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    async def open(self, hash_route: str, ready: str) -> None:
        """Go to /ui#<route> and wait for `ready` (a selector) to be shown."""
        url = f"{self.base}/ui#{hash_route}"
        if self.page.url == url:  # the same address: goto would not even re-render
            await self.page.reload(wait_until="load")
        else:
            await self.page.goto(url, wait_until="load")
        await self.page.wait_for_selector(ready, timeout=15_000)

    async def login(self) -> None:
        await self.page.goto(f"{self.base}/ui", wait_until="load")
        assert urlsplit(self.page.url).path == "/ui/login"
        await self.page.fill("#token", TOKEN)
        await self.page.click("button[type=submit]")
        await self.page.wait_for_selector("#health-cards", timeout=15_000)

    async def screenshot(self, name: str) -> None:
        # A value the script failed to leave out would show as a word (none of the tests'
        # data contains these).
        shown = await self.text("main")
        assert not re.search(r"\b(null|undefined|NaN|\[object Object\])", shown), shown
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    async def text(self, selector: str) -> str:
        return str(await self.page.locator(selector).inner_text())


@asynccontextmanager
async def chromium(base: str) -> AsyncIterator[Browser]:
    executable = browser_or_skip()
    from playwright.async_api import ConsoleMessage, Route, async_playwright

    allowed = urlsplit(base).netloc
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 860})
            b = Browser(page, base)

            async def only_the_api(route: Route) -> None:
                url = route.request.url
                if urlsplit(url).netloc == allowed or url.startswith(("data:", "blob:")):
                    await route.continue_()
                else:
                    b.refused.append(url)
                    await route.abort("internetdisconnected")

            def on_console(message: ConsoleMessage) -> None:
                if message.type == "error":
                    b.errors.append(message.text)

            page.on("pageerror", lambda exc: b.errors.append(str(exc)))
            page.on("console", on_console)
            await page.route("**/*", only_the_api)
            yield b
            assert b.refused == [], f"requests that would have left localhost: {b.refused}"
        finally:
            await browser.close()


async def schedule(http: httpx.AsyncClient, **event: Any) -> str:
    r = await http.post(S, json={"topic": "console.t", "body": "hello", **event})
    assert r.status_code == 201, r.text
    return str(r.json()["schedule_id"])


async def status_of(http: httpx.AsyncClient, schedule_id: str) -> dict[str, Any]:
    r = await http.get(f"{S}/{schedule_id}")
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


async def reaches(http: httpx.AsyncClient, schedule_id: str, status: str) -> bool:
    async def check() -> bool:
        return (await status_of(http, schedule_id))["status"] == status

    return bool(await eventually(check, timeout=20, interval=0.2))


# --- the tests ---------------------------------------------------------------------------


async def test_every_page_loads_with_no_error_and_nothing_leaving_localhost(
    console_with_worker: Console,
) -> None:
    console = console_with_worker
    assert (await console.http.post(f"{MON}/sync")).json()["via"] == "temporal"
    fired = [await schedule(console.http, delay_seconds=0, schedule_id=f"o-{i}") for i in range(3)]
    waiting = await schedule(
        console.http,
        delay_seconds=3600,
        schedule_id="invoice-42",
        body={"invoice": 42, "amount": "12.50"},
        headers={"source": "billing", "content-type": "application/json"},
        entity_type="invoice",
        action="remind",
        priority=5,
    )
    for sid in fired:
        assert await reaches(console.http, sid, "executed")
    await console.http.post(f"{MON}/pause", json={"topic": "reports", "reason": "maintenance"})

    async with chromium(console.base) as b:
        await b.login()

        # The chart shows the events that fired, once the journal writer has flushed them.
        async def charted() -> bool:
            await b.open("/", "#health-cards")
            return await b.page.locator("#timeline rect.fired").count() > 0

        assert await eventually(charted, timeout=20, interval=1.0)
        assert "Last sync: completed" in await b.text("#last-sync")
        assert await b.page.locator("#jobs a[href*='/workflows/schedules-sync-manual/']").count()
        assert "Topic reports" in await b.text("#pauses-summary")
        links = b.page.locator("a[href^='http://127.0.0.1:8233/namespaces/default/']")
        assert await links.count() >= 3  # the workflow runs, the Schedules, the last sync
        await b.screenshot("overview")

        await b.open("/schedules", "#lookup")
        await b.screenshot("schedules")
        await b.page.fill("#lookup input[name=id]", waiting)
        await b.page.click("#lookup button")
        await b.page.wait_for_selector("#schedule-id")
        assert await b.text("#schedule-id") == waiting
        assert "scheduled" in await b.text("#schedule-status")
        assert '"invoice": 42' in await b.text("#body")
        assert "billing" in await b.text("#headers")
        await b.screenshot("schedule")

        await b.open("/pauses", "#active-pauses")
        assert "maintenance" in await b.text("#active-pauses")
        await b.screenshot("pauses")

        assert b.errors == []
    assert b.refused == []


async def test_the_token_gate_holds(console: Console) -> None:
    sid = await schedule(console.http, delay_seconds=3600, body="secret body")
    async with chromium(console.base) as b:
        # Not signed in: the page is the login form, and the API's protected reads and
        # writes refuse the browser.
        await b.page.goto(f"{console.base}/ui#/schedules/{sid}", wait_until="load")
        assert urlsplit(b.page.url).path == "/ui/login"
        assert "secret body" not in await b.page.content()
        await b.screenshot("login")
        probe = """async ([path, method]) => {
            const r = await fetch(path, {method, headers: {"Content-Type": "application/json"},
                body: method === "POST" ? JSON.stringify({all: true}) : undefined});
            return r.status;
        }"""
        assert await b.page.evaluate(probe, [f"{S}/{sid}/event", "GET"]) == 401
        assert await b.page.evaluate(probe, ["/ui/session", "GET"]) == 401
        assert await b.page.evaluate(probe, [f"{MON}/pause", "POST"]) == 401

        await b.page.fill("#token", "wrong")
        await b.page.click("button[type=submit]")
        await b.page.wait_for_selector("p.error")
        assert "Wrong token" in await b.text("p.error")

        await b.login()
        # Signed in: reads work; a write without the CSRF header is refused, with it accepted.
        assert await b.page.evaluate(probe, [f"{S}/{sid}/event", "GET"]) == 200
        assert await b.page.evaluate(probe, [f"{MON}/pause", "POST"]) == 403
        assert (await console.http.get(f"{MON}/stats")).json()["paused"]["active"] is False
        cookies = await b.page.context.cookies()
        (session,) = [c for c in cookies if c["name"] == "schedules_console"]
        assert session["httpOnly"] is True and session["sameSite"] == "Strict"
        assert await b.page.evaluate("document.cookie") == ""  # not readable by scripts
    assert b.refused == []


async def test_cancel_from_the_schedule_page(console: Console) -> None:
    sid = await schedule(console.http, delay_seconds=3600)
    async with chromium(console.base) as b:
        await b.login()
        await b.open("/schedules", "#lookup")
        await b.page.fill("#lookup input[name=id]", sid)
        await b.page.click("#lookup button")
        await b.page.wait_for_selector("#cancel")
        await b.page.click("#cancel")
        await b.page.click("#confirm-cancel")
        await b.page.wait_for_selector("#flash .msg")
        assert "Cancelled" in await b.text("#flash")
        assert "cancelled" in await b.text("#schedule-status")
        assert await b.page.locator("#cancel").count() == 0
        assert b.errors == []
    assert (await status_of(console.http, sid))["status"] == "cancelled"


async def test_a_pause_set_in_the_console_holds_a_due_event_until_resume(
    console: Console,
) -> None:
    async with chromium(console.base) as b:
        await b.login()
        await b.open("/pauses", "#pause-topic")
        await b.page.fill("#pause-topic input[name=topic]", "console.held")
        await b.page.fill("#pause-topic input[name=reason]", "downstream outage")
        await b.page.click("#pause-topic button")
        await b.page.wait_for_selector("#active-pauses")
        assert "console.held" in await b.text("#active-pauses")

        sid = await schedule(console.http, topic="console.held", delay_seconds=0)

        async def held() -> bool:
            return (await status_of(console.http, sid)).get("hot_state") == "held"

        assert await eventually(held, timeout=20, interval=0.2)
        await b.open(f"/schedules/{sid}", "#schedule-status")
        assert "held" in await b.text("#schedule-status")

        await b.open("/pauses", "#active-pauses")
        await b.page.click("#active-pauses button")
        await b.page.wait_for_selector("#no-pauses")
        assert await reaches(console.http, sid, "executed")
        assert b.errors == []


async def test_an_event_body_with_markup_is_shown_as_text(console: Console) -> None:
    body = '<script>window.pwned = 1</script><img src="x" onerror="window.pwned = 2"><b>bold</b>'
    sid = await schedule(console.http, delay_seconds=3600, body=body, headers={"x": "<i>h</i>"})
    async with chromium(console.base) as b:
        await b.login()
        await b.open(f"/schedules/{sid}", "#body")
        assert await b.page.locator("#body").text_content() == body
        assert await b.page.locator("#body *").count() == 0  # text only, no elements
        assert await b.page.locator("#headers i").count() == 0
        assert "<i>h</i>" in await b.text("#headers")
        assert await b.page.evaluate("window.pwned") is None
        assert b.errors == []
    assert b.refused == []


async def test_search_finds_scheduled_events_by_filter(console: Console) -> None:
    wanted = [
        await schedule(
            console.http,
            topic="search.t",
            delay_seconds=3600 + i,
            entity_type="order",
            schedule_id=f"s-{i}",
        )
        for i in range(3)
    ]
    await schedule(console.http, topic="search.other", delay_seconds=3600, schedule_id="s-x")
    await schedule(console.http, topic="search.t", delay_seconds=3600, schedule_id="s-cancelled")
    assert (await console.http.delete(f"{S}/s-cancelled")).status_code == 200
    async with chromium(console.base) as b:
        await b.login()
        await b.open("/schedules", "#search")
        await b.page.fill("#search input[name=topic]", "search.t")
        await b.page.select_option("#search select[name=status]", "scheduled")
        await b.page.click("#search button[type=submit]")
        # (The page listed everything before: wait for this search's answer.)
        await b.page.wait_for_selector("table#results[data-query*='topic=search.t']")
        ids = await b.page.locator("#results td.mono").all_inner_texts()
        assert ids == wanted  # earliest first; neither the other topic nor the cancelled one
        assert "scheduled 3" in " ".join((await b.text("#counts")).split())
        assert "topic=search.t" in b.page.url  # the search is in the address: shareable
        await b.screenshot("schedules")

        await b.page.click("#results a >> nth=1")
        await b.page.wait_for_selector("#schedule-id")
        assert await b.text("#schedule-id") == wanted[1]
        await b.page.go_back()
        await b.page.wait_for_selector("table#results[data-query*='topic=search.t']")

        # Cancel a selection of them at once.
        boxes = b.page.locator("#results input[type=checkbox]")
        assert await boxes.count() == 3
        await boxes.nth(0).check()
        await boxes.nth(2).check()
        await b.page.click("#cancel-selected")
        await b.page.click("#confirm-cancel-selected")
        await b.page.wait_for_selector("#flash .msg")
        assert "Cancelled 2 of 2" in await b.text("#flash")
        statuses = [(await status_of(console.http, sid))["status"] for sid in wanted]
        assert statuses == ["cancelled", "scheduled", "cancelled"]
        await b.page.wait_for_selector("table#results[data-query*='topic=search.t']")
        assert await b.page.locator("#results td.mono").all_inner_texts() == [wanted[1]]

        await b.page.fill("#search input[name=topic]", "search.nothing")
        await b.page.click("#search button[type=submit]")
        await b.page.wait_for_selector("p#results[data-query*='topic=search.nothing']")
        assert "No schedule matches" in await b.text("#results")
        assert b.errors == []
    assert b.refused == []


async def test_rate_limits_are_set_and_cleared_in_the_console(console: Console) -> None:
    async with chromium(console.base) as b:
        await b.login()
        await b.open("/pauses", "#set-limit")
        await b.page.fill("#set-limit input[name=topic]", "limited.t")
        await b.page.fill("#set-limit input[name=rate]", "5")
        await b.page.fill("#set-limit input[name=burst]", "10")
        await b.page.click("#set-limit button")
        await b.page.wait_for_selector("#rate-limits")
        assert "limited.t" in await b.text("#rate-limits")
        got = (await console.http.get(f"{MON}/rate-limits/limited.t")).json()
        assert (got["events_per_second"], got["burst"], got["source"]) == (5, 10, "runtime")
        await b.screenshot("pauses")

        await b.page.click("#rate-limits button")
        await b.page.wait_for_selector("#no-limits")
        assert (await console.http.get(f"{MON}/rate-limits/limited.t")).status_code == 404
        assert b.errors == []


async def test_recurring_definitions_are_paused_resumed_and_deleted(console: Console) -> None:
    definition = {
        "recurring_id": "hourly-report",
        "interval_seconds": 3600,
        "event": {"topic": "reports.t", "body": "<b>report</b>"},
    }
    assert (await console.http.post("/api/v1/recurring", json=definition)).status_code == 201
    path = "/api/v1/recurring/hourly-report"
    async with chromium(console.base) as b:
        await b.login()
        await b.open("/recurring", "table#recurring")
        assert "every 3,600 s" in await b.text("#recurring")
        await b.screenshot("recurring")
        await b.page.click("#recurring a")
        await b.page.wait_for_selector("#occurrences")
        occurrences = await b.page.locator("#occurrences tr").count()
        assert occurrences == 11  # the header and the next ten
        assert await b.page.locator("#body").text_content() == "<b>report</b>"

        await b.page.click("#pause")
        await b.page.wait_for_selector("#resume")
        assert (await console.http.get(path)).json()["paused"] is True
        await b.page.click("#resume")
        await b.page.wait_for_selector("#pause")
        assert (await console.http.get(path)).json()["paused"] is False

        await b.page.click("#delete")
        await b.page.click("#confirm-delete")
        await b.page.wait_for_selector("p#recurring")
        assert (await console.http.get(path)).status_code == 404
        assert b.errors == []


@pytest.fixture
async def console_with_a_dead_letter(
    settings: Settings, shim: HttpShim, cold_db: ClickHouse, hot: HotStore, tmp_path: Path
) -> AsyncIterator[tuple[Console, str]]:
    """The console's process, started after an event due now has spent its attempts (as
    executors that died would leave it): its executor dead-letters it at once."""
    topic = f"dl-{settings.redis_key_prefix.strip(':')}"
    await ensure_topics(settings, [topic, settings.dead_letter_topic])
    await exhaust(hot, doomed("dl-1", topic))
    async with serving(
        settings,
        shim.url,
        cold_db.database,
        tmp_path / "serve.log",
        SCHEDULES_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
    ) as c:
        yield c, topic


async def test_a_dead_letter_is_replayed_after_a_dry_run_and_fires(
    console_with_a_dead_letter: tuple[Console, str], read_topic: Any
) -> None:
    console, topic = console_with_a_dead_letter
    target = await read_topic(topic)
    assert await reaches(console.http, "dl-1", "error")
    async with chromium(console.base) as b:
        await b.login()

        async def listed() -> bool:
            await b.open(f"/dead-letters?topic={topic}", "#dead-letters")
            return await b.page.locator("#dead-letters input[type=checkbox]").count() == 1

        assert await eventually(listed, timeout=20, interval=1.0)
        assert "retries_exhausted" in await b.text("#dead-letters")
        assert await b.page.locator("#replay").is_disabled()  # a dry run first
        await b.page.check("#dead-letters input[type=checkbox]")
        await b.page.click("#dry-run")
        await b.page.wait_for_selector("#replay-counts")
        assert "1 would be replayed" in await b.text("#replay-counts")
        assert (await status_of(console.http, "dl-1"))["status"] == "error"  # nothing changed
        await b.screenshot("dead-letters")

        await b.page.click("#replay")
        await b.page.wait_for_selector("#flash .msg")
        assert "Replayed 1 of 1" in await b.text("#flash")
        assert "Replayed 1" in await b.text("#replay-counts")
        assert await reaches(console.http, "dl-1", "executed")
        (message,) = await target.read(1, timeout=20)
        assert dict(message.headers)["schedule_id"] == b"dl-1"
        assert message.value == b"body-dl-1"

        # Its page shows both attempts: the dead-lettering and the replay that fired.
        async def both_attempts() -> bool:
            await b.open("/schedules/dl-1", "#schedule-status")
            shown = await b.text("#attempts") if await b.page.locator("#attempts").count() else ""
            return "error" in shown and "executed" in shown

        assert await eventually(both_attempts, timeout=20, interval=1.0), await b.text("main")
        await b.screenshot("schedule")
        assert b.errors == []


async def test_reschedule_and_fire_now_from_the_schedule_page(console: Console) -> None:
    sid = await schedule(console.http, delay_seconds=3600)
    later = (datetime.now(UTC) + timedelta(hours=5)).replace(microsecond=0)
    async with chromium(console.base) as b:
        await b.login()
        await b.open(f"/schedules/{sid}", "#reschedule")
        await b.page.fill("#reschedule input[name=at]", later.strftime("%Y-%m-%dT%H:%M:%S"))
        await b.page.click("#reschedule button")
        await b.page.wait_for_selector("#flash .msg")
        assert "Rescheduled to" in await b.text("#flash"), await b.text("#flash")
        moved = await status_of(console.http, sid)
        assert datetime.fromisoformat(moved["scheduled_at"]) == later
        assert moved["status"] == "scheduled"
        assert later.strftime("%Y-%m-%d %H:%M:%S") in await b.text("#scheduled-at")

        await b.page.click("#fire-now")
        await b.page.click("#confirm-fire-now")
        await b.page.wait_for_selector("#flash .msg")
        assert await reaches(console.http, sid, "executed")
        assert b.errors == []


async def test_the_schedule_page_shows_its_status_history(console: Console) -> None:
    sid = await schedule(console.http, delay_seconds=3600)
    r = await console.http.patch(f"{S}/{sid}", json={"delay_seconds": 7200})
    assert r.status_code == 200, r.text
    async with chromium(console.base) as b:
        await b.login()
        await b.open(f"/schedules/{sid}", "#history li")
        items = await b.page.locator("#history li").all_inner_texts()
        # "<date> <time> UTC <kind> <detail>", oldest first; still waiting in ClickHouse
        # (cold tier) or in Redis, by the transfer horizon.
        kinds = [t.split()[3] for t in items]
        assert kinds in (
            ["created", "rescheduled", "pending"],
            ["created", "rescheduled", "scheduled"],
        ), items
        assert "rescheduled to" in items[1]
        assert "waiting in" in items[2]
        assert b.errors == []
