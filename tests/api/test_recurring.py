"""/api/v1/recurring on the session's real Redis (and, for one test, the cold tier):
create, read, list, replace, pause, resume, preview and delete, with the errors each
answers."""

from __future__ import annotations

from typing import Any

import httpx

from scheduler.hot.store import HotStore

URL = "/api/v1/recurring"


def definition(rid: str, **fields: Any) -> dict[str, Any]:
    return {"recurring_id": rid, "event": {"topic": "reports", "body": {"r": 1}}} | fields


async def pending(hot: HotStore) -> list[str]:
    return sorted(m.decode() for m in await hot.redis.zrange(hot.keys.scheduled, 0, -1))


async def test_crud_over_http(api: httpx.AsyncClient, hot: HotStore) -> None:
    body = definition("hourly", interval_seconds=600)
    r = await api.post(URL, json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["version"], created["generation"], created["paused"]) == (1, 1, False)
    assert created["event"]["body"] == {"r": 1} and created["catch_up"] == "skip"
    assert (await api.post(URL, json=body)).status_code == 200  # the same again
    r = await api.post(URL, json=body | {"interval_seconds": 60})
    assert r.status_code == 409 and "already exists" in r.json()["detail"]
    assert (await api.get(f"{URL}/hourly")).json() == created
    assert [d["recurring_id"] for d in (await api.get(URL)).json()["recurring"]] == ["hourly"]
    first = await pending(hot)  # an hour ahead (the transfer horizon), every 10 minutes
    assert len(first) == 6 and all(sid.startswith("hourly@1@") for sid in first)

    spec = {"interval_seconds": 5, "event": {"topic": "reports", "body": "v2"}}
    r = await api.put(f"{URL}/hourly", json=spec, params={"version": 1})
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["generation"]) == (2, 2)
    ids = await pending(hot)
    assert ids and all(sid.startswith("hourly@2@") for sid in ids)
    r = await api.put(f"{URL}/hourly", json=spec | {"interval_seconds": 6}, params={"version": 1})
    assert r.status_code == 409 and "version 2" in r.json()["detail"]

    r = await api.post(f"{URL}/hourly/pause")
    assert r.status_code == 200 and r.json()["paused"] is True
    assert await pending(hot) == []
    r = await api.post(f"{URL}/hourly/resume")
    assert r.status_code == 200 and r.json()["paused"] is False
    assert all(sid.startswith("hourly@4@") for sid in await pending(hot))

    r = await api.get(f"{URL}/hourly/preview", params={"count": 3})
    assert r.status_code == 200
    occurrences = r.json()["occurrences"]
    assert len(occurrences) == 3 and occurrences[0]["schedule_id"].startswith("hourly@4@")

    r = await api.delete(f"{URL}/hourly", params={"version": 1})
    assert r.status_code == 409
    r = await api.delete(f"{URL}/hourly")
    assert r.json() == {"recurring_id": "hourly", "version": 4}
    assert await pending(hot) == []
    for method, path in [
        ("GET", f"{URL}/hourly"),
        ("DELETE", f"{URL}/hourly"),
        ("POST", f"{URL}/hourly/pause"),
        ("POST", f"{URL}/hourly/resume"),
        ("GET", f"{URL}/hourly/preview"),
    ]:
        r = await api.request(method, path)
        assert r.status_code == 404 and "no recurring schedule" in r.json()["detail"], path


async def test_put_creates_and_bad_definitions_name_the_field(api: httpx.AsyncClient) -> None:
    spec = {
        "cron": "0 9 * * 1-5",
        "timezone": "America/New_York",
        "event": {"topic": "t", "body": ""},
    }
    r = await api.put(f"{URL}/weekdays", json=spec)
    assert r.status_code == 200 and r.json()["version"] == 1
    cases = [
        (definition("x", cron="0 9 * *"), "cron"),
        (definition("x", cron="0 25 * * *"), "cron"),
        (definition("x", interval_seconds=5, timezone="Nowhere/City"), "timezone"),
        (definition("x", interval_seconds=5, cron="* * * * *"), "interval_seconds"),
        (definition("x@y", interval_seconds=5), "recurring_id"),
        (definition("x", interval_seconds="5"), "interval_seconds"),
        (definition("x", interval_seconds=5) | {"event": {"topic": "t", "body": "",
                                                          "headers": {"schedule_id": "1"}}},
         "event.headers"),
    ]  # fmt: skip
    for body, field in cases:
        r = await api.post(URL, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["field"] == field, (body, r.text)
    r = await api.get(f"{URL}/weekdays/preview", params={"count": 0})
    assert r.status_code == 422 and r.json()["field"] == "count"


async def test_preview_of_an_unsaved_definition(api: httpx.AsyncClient) -> None:
    r = await api.post(
        f"{URL}/preview",
        params={"count": 2},
        json=definition("draft", cron="30 2 * * *", timezone="Europe/Berlin"),
    )
    assert r.status_code == 200, r.text
    assert len(r.json()["occurrences"]) == 2
    assert (await api.get(f"{URL}/draft")).status_code == 404  # nothing was saved


async def test_with_the_cold_tier(hybrid_api: httpx.AsyncClient) -> None:
    r = await hybrid_api.post(URL, json=definition("cold", interval_seconds=600))
    assert r.status_code == 201, r.text
    r = await hybrid_api.get(f"{URL}/cold/preview", params={"count": 1})
    sid = r.json()["occurrences"][0]["schedule_id"]
    status = (await hybrid_api.get(f"/api/v1/schedules/{sid}")).json()
    assert status["status"] == "scheduled" and status["tier"] == "hot"
    r = await hybrid_api.post(f"{URL}/restore")
    assert r.json() == {"restored": 0, "kept": 1}  # the mirror has it, and so does Redis
    assert (await hybrid_api.delete(f"{URL}/cold")).status_code == 200
    status = (await hybrid_api.get(f"/api/v1/schedules/{sid}")).json()
    assert status["status"] == "cancelled"


async def test_restore_without_the_cold_tier_is_a_409(api: httpx.AsyncClient) -> None:
    r = await api.post(f"{URL}/restore")
    assert r.status_code == 409 and "cold tier" in r.json()["detail"]
