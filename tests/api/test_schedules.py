from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from api.routes.schedules import BatchResult
from devstack.services import free_port, start_redis
from scheduler.hot.store import HotStore
from scheduler.settings import Settings
from tests.api.conftest import MakeClient

URL = "/api/v1/schedules"


def event(**kw: object) -> dict[str, object]:
    return {"topic": "user.notifications", "body": {"user_id": 1}, "delay_seconds": 60, **kw}


async def test_schedule_then_get_then_cancel(api: httpx.AsyncClient, hot: HotStore) -> None:
    r = await api.post(URL, json=event(schedule_id="reminder-1", entity_type="user"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["schedule_id"] == "reminder-1"
    assert body["tier"] == "hot"
    assert body["created"] is True
    assert await hot.counts() == {"pending": 1, "held": 0, "in_flight": 0}

    r = await api.get(f"{URL}/reminder-1")
    assert r.status_code == 200
    info = r.json()
    assert info["status"] == "scheduled"
    assert not info["updated_at"].startswith("1970")
    assert info["hot_state"] == "pending"
    assert info["attempts"] == 0
    assert info["entity_type"] == "user"

    r = await api.delete(f"{URL}/reminder-1")
    assert r.status_code == 200
    assert r.json() == {"schedule_id": "reminder-1", "cancelled": "pending"}
    assert await hot.counts() == {"pending": 0, "held": 0, "in_flight": 0}
    assert (await api.get(f"{URL}/reminder-1")).status_code == 404


async def test_generated_id_and_scheduled_at(api: httpx.AsyncClient) -> None:
    at = datetime.now(UTC) + timedelta(minutes=5)
    r = await api.post(URL, json=event(delay_seconds=None, scheduled_at=at.isoformat()))
    assert r.status_code == 201
    body = r.json()
    assert len(body["schedule_id"]) == 26
    assert abs(datetime.fromisoformat(body["scheduled_at"]) - at) < timedelta(seconds=1)


async def test_same_schedule_id_again_is_200_and_one_event(
    api: httpx.AsyncClient, hot: HotStore
) -> None:
    first = await api.post(URL, json=event(schedule_id="dup"))
    again = await api.post(URL, json=event(schedule_id="dup", delay_seconds=999))
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["scheduled_at"] == first.json()["scheduled_at"]
    assert await hot.counts() == {"pending": 1, "held": 0, "in_flight": 0}


async def test_validation_errors_name_the_field(api: httpx.AsyncClient) -> None:
    r = await api.post(URL, json=event(delay_seconds=-1))
    assert r.status_code == 422
    assert r.json()["field"] == "delay_seconds"
    assert "delay_seconds" in r.json()["detail"]

    r = await api.post(URL, json=event(topic="bad topic!"))
    assert (r.status_code, r.json()["field"]) == (422, "topic")

    r = await api.post(URL, json={"topic": "t", "body": "x"})
    assert r.status_code == 422
    assert "exactly one of scheduled_at or delay_seconds" in r.json()["detail"]

    r = await api.post(URL, json=event(unknown=1))
    assert (r.status_code, r.json()["field"]) == (422, "unknown")

    r = await api.post(URL, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422


async def test_invalid_event_from_limits_is_422(api: httpx.AsyncClient) -> None:
    r = await api.post(URL, json=event(headers={"schedule_id": "x"}))
    assert r.status_code == 422
    assert r.json()["field"] == "headers"
    assert "reserved" in r.json()["detail"]


async def test_beyond_horizon_without_cold_tier_is_422(api: httpx.AsyncClient) -> None:
    r = await api.post(URL, json=event(delay_seconds=10 * 86400))
    assert r.status_code == 422
    assert r.json()["field"] == "scheduled_at"


async def test_far_future_is_422_not_500(api: httpx.AsyncClient) -> None:
    r = await api.post(URL, json=event(delay_seconds=1e300))
    assert r.status_code == 422


async def test_body_over_limit_is_413(make_client: MakeClient, settings: Settings) -> None:
    api = await make_client(settings.model_copy(update={"api_max_request_bytes": 1000}))
    r = await api.post(URL, json=event(body="x" * 2000))
    assert r.status_code == 413

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(5):
            yield b"x" * 400

    r = await api.post(URL, content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert (await api.post(URL, json=event())).status_code == 201


async def test_unknown_schedule_is_404(api: httpx.AsyncClient) -> None:
    assert (await api.get(f"{URL}/nope")).status_code == 404
    assert (await api.delete(f"{URL}/nope")).status_code == 404


async def test_cancel_finished_schedule_is_409(hybrid_api: httpx.AsyncClient) -> None:
    r = await hybrid_api.post(URL, json=event(schedule_id="later", delay_seconds=3 * 86400))
    assert r.status_code == 201
    assert r.json()["tier"] == "cold"
    info = (await hybrid_api.get(f"{URL}/later")).json()
    assert (info["status"], info["tier"]) == ("pending", "cold")
    assert (await hybrid_api.delete(f"{URL}/later")).status_code == 200
    r = await hybrid_api.delete(f"{URL}/later")
    assert r.status_code == 409
    assert "cancelled" in r.json()["detail"]


async def test_batch_reports_each_item(api: httpx.AsyncClient, hot: HotStore) -> None:
    r = await api.post(
        f"{URL}/batch",
        json={"events": [event(schedule_id="a"), event(delay_seconds=-5), "nope", event()]},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (2, 2)
    results = body["results"]
    assert [x["ok"] for x in results] == [True, False, False, True]
    assert results[0]["schedule_id"] == "a"
    assert results[1]["field"] == "delay_seconds"
    assert await hot.counts() == {"pending": 2, "held": 0, "in_flight": 0}


async def test_a_batch_answer_is_byte_for_byte_what_its_model_writes(
    api: httpx.AsyncClient,
) -> None:
    """The batch route writes its answer itself (orjson), as BatchResult would."""
    at = (datetime.now(UTC) + timedelta(minutes=5)).replace(microsecond=123456)
    items = [
        event(),
        event(schedule_id="twice", scheduled_at=at.isoformat(), delay_seconds=None),
        event(schedule_id="twice"),
        event(delay_seconds=-1),
        1,
        event(headers={"h": "é"}, body={"text": "ünïcode"}),
    ]
    r = await api.post(f"{URL}/batch", json={"events": items})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.content == BatchResult.model_validate_json(r.content).model_dump_json().encode()
    assert r.json()["results"][1]["scheduled_at"] == at.isoformat().replace("+00:00", "Z")


async def test_batch_repeats_and_known_ids_answer_the_existing_schedule(
    api: httpx.AsyncClient, hot: HotStore
) -> None:
    """Stored in one write: an id repeated in the batch, or already scheduled, is one event."""
    assert (await api.post(URL, json=event(schedule_id="known"))).status_code == 201
    items = [
        event(schedule_id="new", delay_seconds=30),
        event(schedule_id="new", delay_seconds=90),
        event(schedule_id="known", delay_seconds=500),
        event(delay_seconds=10 * 86400),  # beyond the horizon, and no cold tier
    ]
    r = await api.post(f"{URL}/batch", json={"events": items})
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (3, 1)
    new, repeat, known, far = body["results"]
    assert (new["created"], repeat["created"], known["created"]) == (True, False, False)
    assert repeat["scheduled_at"] == new["scheduled_at"]  # the first one's time
    assert known["tier"] == "hot"
    assert far["field"] == "scheduled_at" and not far["ok"]
    assert await hot.counts() == {"pending": 2, "held": 0, "in_flight": 0}


async def test_cold_and_hot_in_one_batch(hybrid_api: httpx.AsyncClient) -> None:
    items = [event(schedule_id="soon"), event(schedule_id="far", delay_seconds=3 * 86400)]
    body = (await hybrid_api.post(f"{URL}/batch", json={"events": items})).json()
    assert [(x["schedule_id"], x["tier"], x["created"]) for x in body["results"]] == [
        ("soon", "hot", True),
        ("far", "cold", True),
    ]
    again = (await hybrid_api.post(f"{URL}/batch", json={"events": items})).json()
    assert [x["created"] for x in again["results"]] == [False, False]
    assert (await hybrid_api.get(f"{URL}/far")).json()["tier"] == "cold"


async def test_batch_over_max_items_is_422(make_client: MakeClient, settings: Settings) -> None:
    api = await make_client(settings.model_copy(update={"api_max_batch": 2}))
    r = await api.post(f"{URL}/batch", json={"events": [event()] * 3})
    assert (r.status_code, r.json()["field"]) == (422, "events")
    r = await api.post(f"{URL}/batch", json={"items": []})
    assert (r.status_code, r.json()["field"]) == (422, "events")


async def test_redis_down_mid_flight_is_503_and_nothing_accepted_is_lost(
    make_client: MakeClient, settings: Settings, tmp_path: Path
) -> None:
    """A private redis-server, stopped under a running app, then started again (AOF)."""
    port = free_port()
    server = start_redis(port, tmp_path)
    try:
        api = await make_client(
            settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{port}/0"})
        )
        assert (await api.post(URL, json=event(schedule_id="kept"))).status_code == 201
        server.stop()
        for r in (
            await api.post(URL, json=event(schedule_id="refused")),
            await api.post(f"{URL}/batch", json={"events": [event()]}),
            await api.get(f"{URL}/kept"),
            await api.delete(f"{URL}/kept"),
            await api.get(f"{URL}/monitoring/stats"),
            await api.post(f"{URL}/monitoring/pause", json={"all": True}),
        ):
            assert r.status_code == 503, (r.request.url, r.text)
            assert "Redis" in r.json()["detail"]
        server = start_redis(port, tmp_path)
        assert (await api.get(f"{URL}/kept")).json()["hot_state"] == "pending"
        assert (await api.get(f"{URL}/refused")).status_code == 404
        assert (await api.post(URL, json=event(schedule_id="refused"))).status_code == 201
    finally:
        server.stop()
