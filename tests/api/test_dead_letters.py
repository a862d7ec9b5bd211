"""GET /api/v1/dead-letters and POST /api/v1/dead-letters/replay on the real services: a
real executor dead-letters an event that exhausted its retries, the API lists it, a dry
run changes nothing, the replay fires once however often it is posted; bad input is a 422
naming the field, never a 500; replaying needs the token when one is set."""

from __future__ import annotations

import httpx
import pytest
from conftest import eventually

from scheduler.hot.store import HotStore
from scheduler.kafka import ensure_topics
from scheduler.settings import Settings
from tests.deadletters.helpers import MAX_ATTEMPTS, doomed, exhaust

URL = "/api/v1/dead-letters"


async def test_list_dry_run_replay_and_replay_again_over_http(
    make_client, hybrid_settings: Settings, hot: HotStore, read_topic, uid: str
) -> None:
    topic = f"target-{uid}"
    s = hybrid_settings.model_copy(update={"max_attempts": MAX_ATTEMPTS})
    await ensure_topics(s, [topic, s.dead_letter_topic])
    target = await read_topic(topic)
    await exhaust(hot, doomed("http-1", topic))
    api: httpx.AsyncClient = await make_client(s, roles=["executor"])

    async def listed() -> object:
        r = await api.get(URL, params={"reason": "retries_exhausted", "topic": topic})
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        return items if items and set(items[0]["sources"]) == {"cold", "topic"} else None

    items = await eventually(listed, timeout=20)
    assert items, "not listed from the topic and the cold tier"
    (item,) = items
    assert item["schedule_id"] == "http-1" and item["replayable"] is True

    r = await api.post(f"{URL}/replay", json={"ids": [item["id"]], "dry_run": True})
    assert r.status_code == 200, r.text
    assert (r.json()["would_replay"], r.json()["items"][0]["outcome"]) == (1, "would_replay")
    assert (await hot.counts())["pending"] == 0

    r = await api.post(f"{URL}/replay", json={"topic": topic, "limit": 5})
    assert r.status_code == 200, r.text
    assert r.json()["replayed"] == 1 and r.json()["items"][0]["schedule_id"] == "http-1"
    assert [dict(m.headers)["schedule_id"] for m in await target.read(1, timeout=20)] == [b"http-1"]
    r = await api.post(f"{URL}/replay", json={"ids": [item["id"]]})
    assert r.json()["items"][0]["outcome"] == "already_replayed"
    assert len(await target.settle(quiet=1.0)) == 1
    listed_again = (await api.get(URL, params={"topic": topic})).json()["items"]
    assert listed_again[0]["replayed_as"] == "http-1"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"reason": "bored"}, "reason"),
        ({"source": "everywhere"}, "source"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"topic": "no spaces"}, "topic"),
        ({"since": "yesterday"}, "since"),
        ({"until": "1900-01-01T00:00:00Z"}, "until"),
    ],
)
async def test_bad_listing_parameters_are_422_naming_them(
    api: httpx.AsyncClient, params: dict[str, object], field: str
) -> None:
    r = await api.get(URL, params=params)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ids": "t:0:1"}, "ids"),
        ({"ids": [""]}, "ids.0"),
        ({"ids": ["x"] * 1001}, "ids"),
        ({"limit": "5"}, "limit"),
        ({"limit": 0}, "limit"),
        ({"mode": "sideways"}, "mode"),
        ({"dry_run": "yes"}, "dry_run"),
        ({"topic": "a/b"}, "topic"),
        ({"since": "2300-01-01T00:00:00Z"}, "since"),
        ({"replay": True}, "replay"),
    ],
)
async def test_bad_replay_requests_are_422_naming_the_field(
    api: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    r = await api.post(f"{URL}/replay", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field


async def test_unknown_ids_are_reported_per_item_and_an_empty_topic_lists_nothing(
    api: httpx.AsyncClient,
) -> None:
    r = await api.get(URL)
    assert r.status_code == 200, r.text
    assert r.json() | {"items": None} == {
        "items": None,
        "count": 0,
        "scanned": 0,
        "complete": True,
        "cold_tier": False,
    }
    r = await api.post(f"{URL}/replay", json={"ids": ["t:0:5", "c:1:x", "whatever"]})
    assert r.status_code == 200, r.text
    assert [i["outcome"] for i in r.json()["items"]] == ["not_found"] * 3
    assert r.json()["skipped"] == 3


async def test_replay_needs_the_token_and_listing_does_not(make_client, settings: Settings) -> None:
    api: httpx.AsyncClient = await make_client(settings.model_copy(update={"api_token": "t0k"}))
    assert (await api.get(URL)).status_code == 200
    assert (await api.post(f"{URL}/replay", json={"dry_run": True})).status_code == 401
    r = await api.post(
        f"{URL}/replay", json={"dry_run": True}, headers={"Authorization": "Bearer t0k"}
    )
    assert r.status_code == 200, r.text
