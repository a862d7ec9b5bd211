"""POST with on_conflict=replace (debounce), single and batch, on the real services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from scheduler.hot.store import HotStore

URL = "/api/v1/schedules"


def event(**kw: object) -> dict[str, object]:
    return {"topic": "user.notifications", "body": "first", "delay_seconds": 60, **kw}


async def test_replace_debounces_a_pending_event(api: httpx.AsyncClient, hot: HotStore) -> None:
    assert (await api.post(URL, json=event(schedule_id="d-1"))).status_code == 201
    r = await api.post(
        URL, json=event(schedule_id="d-1", body="latest", delay_seconds=600, on_conflict="replace")
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert (answer["created"], answer["replaced"], answer["tier"]) == (False, True, "hot")
    later = datetime.now(UTC) + timedelta(seconds=600)
    assert abs(datetime.fromisoformat(answer["scheduled_at"]) - later) < timedelta(seconds=5)
    state, ev = await hot.get("d-1")  # type: ignore[misc]
    assert (state, ev.body) == ("pending", b"latest")
    assert await hot.counts() == {"pending": 1, "held": 0, "in_flight": 0}
    # keep (the default) still keeps.
    r = await api.post(URL, json=event(schedule_id="d-1", body="ignored"))
    assert (r.status_code, r.json()["created"], r.json()["replaced"]) == (200, False, False)
    assert (await hot.get("d-1"))[1].body == b"latest"  # type: ignore[index]


async def test_replace_of_an_unknown_id_schedules_it(api: httpx.AsyncClient) -> None:
    r = await api.post(URL, json=event(schedule_id="d-new", on_conflict="replace"))
    assert r.status_code == 201, r.text
    assert (r.json()["created"], r.json()["replaced"]) == (True, False)


async def test_replace_of_an_event_in_flight_is_409_and_changes_nothing(
    api: httpx.AsyncClient, hot: HotStore
) -> None:
    assert (
        await api.post(URL, json=event(schedule_id="d-busy", delay_seconds=0))
    ).status_code == 201
    assert len((await hot.claim(10, 30)).items) == 1
    r = await api.post(URL, json=event(schedule_id="d-busy", on_conflict="replace"))
    assert r.status_code == 409, r.text
    assert "in flight" in r.json()["detail"]
    assert await hot.counts() == {"pending": 0, "held": 0, "in_flight": 1}


async def test_replace_in_a_batch(api: httpx.AsyncClient, hot: HotStore) -> None:
    for sid, delay in (("b-pending", 60), ("b-busy", 0)):
        assert (
            await api.post(URL, json=event(schedule_id=sid, delay_seconds=delay))
        ).status_code == 201
    assert len((await hot.claim(1, 30)).items) == 1  # b-busy
    r = await api.post(
        f"{URL}/batch",
        json={
            "events": [
                event(schedule_id="b-pending", body="second", on_conflict="replace"),
                event(schedule_id="b-fresh", on_conflict="replace"),
                event(schedule_id="b-busy", on_conflict="replace"),
                event(schedule_id="b-bad", on_conflict="sometimes"),
            ]
        },
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["accepted"], out["rejected"]) == (2, 2)
    first, fresh, busy, bad = out["results"]
    assert (first["ok"], first["replaced"], first["created"]) == (True, True, False)
    assert (fresh["ok"], fresh["created"]) == (True, True)
    assert (busy["ok"], busy["schedule_id"]) == (False, "b-busy")
    assert "in flight" in busy["error"]
    assert (bad["ok"], bad["field"]) == (False, "on_conflict")
    assert (await hot.get("b-pending"))[1].body == b"second"  # type: ignore[index]


async def test_replace_across_tiers(hybrid_api: httpx.AsyncClient, hot: HotStore) -> None:
    far = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    r = await hybrid_api.post(
        URL, json=event(schedule_id="x-1", delay_seconds=None, scheduled_at=far)
    )
    assert (r.status_code, r.json()["tier"]) == (201, "cold")
    r = await hybrid_api.post(
        URL, json=event(schedule_id="x-1", body="now hot", on_conflict="replace")
    )
    assert r.status_code == 200, r.text
    assert (r.json()["tier"], r.json()["replaced"]) == ("hot", True)
    assert (await hot.get("x-1"))[1].body == b"now hot"  # type: ignore[index]
    info = (await hybrid_api.get(f"{URL}/x-1")).json()
    assert (info["status"], info["tier"]) == ("scheduled", "hot")
    # A cancelled (finished) id is scheduled anew, as with keep.
    assert (await hybrid_api.delete(f"{URL}/x-1")).status_code == 200
    r = await hybrid_api.post(
        URL, json=event(schedule_id="x-1", body="again", on_conflict="replace")
    )
    assert (r.status_code, r.json()["created"]) == (201, True)
