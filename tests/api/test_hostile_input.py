"""Hostile request bodies get a 422 naming the field, never a 500; in a batch, a bad item
is reported in its own result and the others are stored."""

from __future__ import annotations

import httpx
import pytest

from scheduler.hot.store import HotStore

URL = "/api/v1/schedules"
JSON = {"content-type": "application/json"}
DEEP = b"[" * 300 + b"]" * 300

HOSTILE = [
    (b'{"topic":"x","body":[123456789012345678901234567890],"delay_seconds":5}', "body"),
    (b'{"topic":"x","body":{"n":NaN},"delay_seconds":5}', "body"),
    (b'{"topic":"x","body":[Infinity],"delay_seconds":5}', "body"),
    (b'{"topic":"x","body":"a\\ud800b","delay_seconds":5}', "body"),
    (b'{"topic":"x","body":{"\\udc00":1},"delay_seconds":5}', "body"),
    (b'{"topic":"x","body":"b","delay_seconds":5,"headers":{"h":"\\ud800"}}', "headers"),
    (b'{"topic":"x","body":"b","delay_seconds":5,"entity_type":"\\ud800"}', "entity_type"),
    (b'{"topic":"x","body":' + DEEP + b',"delay_seconds":5}', "body"),
    (b'{"topic":"x\\n","body":"b","delay_seconds":5}', "topic"),
    (b'{"topic":"x","body":"b","delay_seconds":5,"schedule_id":"a\\n"}', "schedule_id"),
    (b'{"topic":"x","body":"b"}', "delay_seconds"),
]


@pytest.mark.parametrize(("raw", "field"), HOSTILE)
async def test_hostile_event_is_422_naming_the_field(
    api: httpx.AsyncClient, hot: HotStore, raw: bytes, field: str
) -> None:
    r = await api.post(URL, content=raw, headers=JSON)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field, r.json()
    assert (await hot.counts())["pending"] == 0


async def test_absurdly_deep_json_is_422(api: httpx.AsyncClient) -> None:
    r = await api.post(URL, content=b'{"topic":"x","body":' + b"[" * 100_000, headers=JSON)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "body"


@pytest.mark.parametrize(("raw", "field"), HOSTILE)
async def test_a_hostile_item_does_not_sink_its_batch(
    api: httpx.AsyncClient, hot: HotStore, raw: bytes, field: str
) -> None:
    good = b'{"topic":"t","body":"good","delay_seconds":60,"schedule_id":"good-1"}'
    r = await api.post(f"{URL}/batch", content=b'{"events":[' + good + b"," + raw + b"]}",
                       headers=JSON)  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert body["results"][0]["ok"] is True and body["results"][0]["schedule_id"] == "good-1"
    assert body["results"][1]["ok"] is False and body["results"][1]["field"] == field
    assert await hot.get("good-1") is not None
