"""The console's pages and token gate through the app (api/console): the page and its
assets, the login session (HttpOnly, SameSite=Strict cookie), CSRF on mutating calls made
with the cookie, bearer auth unchanged; and the two reads the console added: a schedule's
stored event and the per-minute timeline. (In a real browser: test_console_browser.py.)"""

from __future__ import annotations

import httpx
import pytest
from conftest import eventually
from temporalio.client import Client
from temporalio.worker import Worker

from scheduler.settings import Settings
from tests.api.conftest import MakeClient

MON = "/api/v1/schedules/monitoring"
TOKEN = "s3cret"


@pytest.fixture
async def secured(make_client: MakeClient, settings: Settings) -> httpx.AsyncClient:
    return await make_client(settings.model_copy(update={"api_token": TOKEN}))


async def login(client: httpx.AsyncClient) -> str:
    """Sign in through the form; the CSRF token of the session."""
    r = await client.post("/ui/login", data={"token": TOKEN})
    assert r.status_code == 303, r.text
    session = await client.get("/ui/session")
    assert session.status_code == 200
    csrf: str = session.json()["csrf_token"]
    return csrf


async def test_the_page_and_its_assets_are_served_from_the_package(api: httpx.AsyncClient) -> None:
    page = await api.get("/ui")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from another host
    for asset, kind in (("console.js", "javascript"), ("console.css", "text/css")):
        r = await api.get(f"/ui/assets/{asset}")
        assert r.status_code == 200 and kind in r.headers["content-type"], asset
        text = r.text.replace('"http://www.w3.org/2000/svg"', "")  # a name, not a request
        assert "https://" not in text and "http://" not in text, asset
    script = (await api.get("/ui/assets/console.js")).text
    assert ".innerHTML" not in script and "insertAdjacentHTML" not in script
    slash = await api.get("/ui/")
    assert (slash.status_code, slash.headers["location"]) == (308, "/ui")


async def test_without_a_token_the_console_is_open(api: httpx.AsyncClient) -> None:
    session = (await api.get("/ui/session")).json()
    assert session["login"] is False and session["csrf_token"] is None
    assert (await api.get("/ui/login")).status_code == 303


async def test_with_a_token_nothing_is_shown_before_login(secured: httpx.AsyncClient) -> None:
    r = await secured.get("/ui")
    assert (r.status_code, r.headers["location"]) == (303, "/ui/login")
    assert (await secured.get("/ui/session")).status_code == 401
    form = await secured.get("/ui/login")
    assert form.status_code == 200 and 'name="token"' in form.text
    wrong = await secured.post("/ui/login", data={"token": "guess"})
    assert wrong.status_code == 401 and "Wrong token" in wrong.text
    assert "set-cookie" not in wrong.headers
    assert (await secured.get("/ui")).status_code == 303


async def test_login_sets_a_strict_httponly_session_cookie(secured: httpx.AsyncClient) -> None:
    r = await secured.post("/ui/login", data={"token": TOKEN})
    assert (r.status_code, r.headers["location"]) == (303, "/ui")
    cookie = r.headers["set-cookie"].lower()
    for part in ("schedules_console=", "httponly", "samesite=strict", "path=/"):
        assert part in cookie, cookie
    assert (await secured.get("/ui")).status_code == 200
    assert (await secured.get("/ui/session")).json()["login"] is True


async def test_mutating_calls_with_the_cookie_need_the_csrf_header(
    secured: httpx.AsyncClient,
) -> None:
    csrf = await login(secured)
    without = await secured.post(f"{MON}/pause", json={"topic": "t"})
    assert without.status_code == 403
    assert "X-CSRF-Token" in without.json()["detail"]
    wrong = await secured.post(f"{MON}/pause", json={"topic": "t"}, headers={"X-CSRF-Token": "x"})
    assert wrong.status_code == 403
    ok = await secured.post(f"{MON}/pause", json={"topic": "t"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200 and ok.json()["topics"] == ["t"]
    # Reads with the cookie need no CSRF token.
    assert (await secured.get("/api/v1/schedules/none/event")).status_code == 404


async def test_bearer_auth_is_unchanged_by_the_session(secured: httpx.AsyncClient) -> None:
    csrf = await login(secured)
    headers = {"X-CSRF-Token": csrf, "Authorization": "Bearer wrong"}
    # An Authorization header decides on its own: a wrong one is refused despite the cookie.
    r = await secured.post(f"{MON}/resume", json={"all": True}, headers=headers)
    assert r.status_code == 401
    secured.cookies.clear()
    r = await secured.post(f"{MON}/resume", json={"all": True}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 401  # the CSRF token alone is nothing
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert (await secured.post(f"{MON}/resume", json={"all": True}, headers=auth)).is_success


async def test_logout_ends_the_session(secured: httpx.AsyncClient) -> None:
    await login(secured)
    r = await secured.post("/ui/logout")
    assert (r.status_code, r.headers["location"]) == (303, "/ui/login")
    assert (await secured.get("/ui")).status_code == 303


async def test_a_forged_or_foreign_cookie_is_refused(
    secured: httpx.AsyncClient, make_client: MakeClient, settings: Settings
) -> None:
    other = await make_client(settings.model_copy(update={"api_token": "another"}))
    await other.post("/ui/login", data={"token": "another"})
    foreign = other.cookies["schedules_console"]
    secured.cookies.set("schedules_console", foreign)
    assert (await secured.get("/ui")).status_code == 303
    assert (await secured.get("/ui/session")).status_code == 401


async def test_the_stored_event_is_served_as_text(api: httpx.AsyncClient) -> None:
    body = "<script>alert(1)</script>"
    event = {"topic": "t", "body": body, "delay_seconds": 600, "schedule_id": "ev-1"}
    event |= {"headers": {"source": "test"}, "priority": 3, "entity_type": "user"}
    assert (await api.post("/api/v1/schedules", json=event)).status_code == 201
    r = await api.get("/api/v1/schedules/ev-1/event")
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["body"], got["body_bytes"], got["body_utf8"]) == (body, len(body), True)
    assert got["headers"] == {"source": "test"}
    assert (got["priority"], got["entity_type"], got["topic"]) == (3, "user", "t")
    missing = await api.get("/api/v1/schedules/nope/event")
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


async def test_the_stored_event_needs_the_token_when_one_is_set(
    secured: httpx.AsyncClient,
) -> None:
    assert (await secured.get("/api/v1/schedules/x/event")).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert (await secured.get("/api/v1/schedules/x/event", headers=auth)).status_code == 404


async def test_a_finished_event_is_read_from_the_cold_tier(hybrid_api: httpx.AsyncClient) -> None:
    event = {"topic": "t", "body": {"a": 1}, "delay_seconds": 600, "schedule_id": "ev-2"}
    assert (await hybrid_api.post("/api/v1/schedules", json=event)).status_code == 201
    assert (await hybrid_api.delete("/api/v1/schedules/ev-2")).status_code == 200
    r = await hybrid_api.get("/api/v1/schedules/ev-2/event")
    assert r.status_code == 200, r.text
    assert r.json()["body"] == '{"a":1}'


async def test_the_timeline_has_every_minute(hybrid_api: httpx.AsyncClient) -> None:
    r = await hybrid_api.get(f"{MON}/analytics/timeline", params={"minutes": 5})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["minutes"] == 5 and len(got["per_minute"]) == 6
    assert all(m["fired"] == m["failed"] == m["skipped"] == 0 for m in got["per_minute"])
    assert (await hybrid_api.get(f"{MON}/analytics/timeline?minutes=0")).status_code == 422


async def test_the_timeline_needs_the_cold_tier(api: httpx.AsyncClient) -> None:
    assert (await api.get(f"{MON}/analytics/timeline")).status_code == 409


async def test_the_job_runs_show_the_last_sync_from_temporal(
    make_client: MakeClient, orch_settings: Settings, client: Client, worker: Worker
) -> None:
    api = await make_client(orch_settings, temporal=client)
    assert (await api.post(f"{MON}/sync")).status_code == 200

    async def listed() -> dict[str, object] | None:
        r = await api.get(f"{MON}/jobs")
        assert r.status_code == 200, r.text
        body: dict[str, object] = r.json()
        return body if body["last_sync"] else None

    body = await eventually(listed, timeout=20, interval=0.3)
    assert isinstance(body, dict) and body["via"] == "temporal"
    sync = body["last_sync"]
    assert isinstance(sync, dict)
    assert (sync["job"], sync["workflow_id"], sync["status"]) == (
        "sync",
        "schedules-sync-manual",
        "completed",
    )
    assert sync["closed_at"] is not None and 0 <= sync["seconds"] < 60
    assert body["runs"][0] == sync


async def test_the_job_runs_without_temporal(api: httpx.AsyncClient) -> None:
    r = await api.get(f"{MON}/jobs")
    assert r.status_code == 200
    assert r.json() == {"via": "in_process", "runs": [], "last_sync": None}
    assert (await api.get(f"{MON}/jobs?limit=0")).status_code == 422


async def test_the_attempts_of_a_fired_event(
    make_client: MakeClient, hybrid_settings: Settings
) -> None:
    api = await make_client(hybrid_settings, roles=["executor"])
    event = {"topic": "t", "body": "x", "delay_seconds": 0, "schedule_id": "fired-1"}
    assert (await api.post("/api/v1/schedules", json=event)).status_code == 201

    async def recorded() -> list[dict[str, object]]:
        r = await api.get("/api/v1/schedules/fired-1/attempts")
        assert r.status_code == 200, r.text
        found: list[dict[str, object]] = r.json()["attempts"]
        return found

    attempts = await eventually(recorded, timeout=20, interval=0.2)
    assert isinstance(attempts, list) and len(attempts) == 1
    (one,) = attempts
    assert (one["status"], one["retry_count"], one["error"]) == ("success", 0, None)
    assert (await api.get("/api/v1/schedules/nope/attempts")).status_code == 404
    assert (await api.get("/api/v1/schedules/fired-1/attempts?limit=0")).status_code == 422


async def test_the_attempts_need_the_cold_tier(api: httpx.AsyncClient) -> None:
    assert (await api.get("/api/v1/schedules/x/attempts")).status_code == 409


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", 401),  # no token at all
        (b"token=", 401),
        (b"\xff\xfe\x00token=\xc3", 401),  # not UTF-8
        (b"token=s3cret&token=other", 303),  # the first one counts
        (b"token=%E2%82%AC", 401),  # a non-ASCII guess
        (b"x" * 5000, 413),  # larger than a login form
    ],
)
async def test_any_login_form_gets_a_page_not_an_error(
    secured: httpx.AsyncClient, body: bytes, code: int
) -> None:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    r = await secured.post("/ui/login", content=body, headers=headers)
    assert r.status_code == code, r.text
    if code != 303:
        assert r.headers["content-type"].startswith("text/html")
        assert "set-cookie" not in r.headers
