"""/monitoring/rate-limits: per-topic rate limits set, read and cleared over HTTP, obeyed
by a real executor firing to the real broker; bad input answers 422 naming the field."""

from __future__ import annotations

import time

import httpx
import pytest

from api.main import create_app
from scheduler.kafka import ensure_topics
from scheduler.settings import Settings
from tests.api.conftest import MakeClient

MON = "/api/v1/schedules/monitoring"
LIMITS = f"{MON}/rate-limits"


def ids(messages: list) -> list[str]:  # type: ignore[type-arg]
    return [dict(m.headers)["schedule_id"].decode() for m in messages]


async def test_set_read_and_clear_a_limit_that_an_executor_obeys(
    api: httpx.AsyncClient, settings: Settings, start_executor, read_topic, uid
) -> None:
    limited, other = f"orders-{uid}", f"emails-{uid}"
    await ensure_topics(settings, [limited, other])
    assert (await api.get(LIMITS)).json() == {"limits": [], "throttled": 0}
    r = await api.put(f"{LIMITS}/{limited}", json={"events_per_second": 2, "burst": 1})
    assert r.status_code == 200, r.text
    assert r.json() | {"since": None} == {
        "topic": limited,
        "events_per_second": 2.0,
        "burst": 1.0,
        "source": "runtime",
        "throttled": 0,
        "since": None,
        "overrides": None,
    }
    now = time.time()
    batch = [
        {"topic": t, "body": f"{t}-{i}", "delay_seconds": 0, "schedule_id": f"{t[:1]}{i}"}
        for t in (limited, other)
        for i in range(10)
    ]
    r = await api.post("/api/v1/schedules/batch", json={"events": batch})
    assert r.json()["accepted"] == 20, r.text
    limited_reader, other_reader = await read_topic(limited), await read_topic(other)
    await start_executor()
    assert len(await other_reader.read(10)) == 10  # the other topic is not held up
    fired = await limited_reader.settle(0.3)
    assert len(fired) <= 1 + 2 * (time.time() - now) + 1

    stats = (await api.get(f"{MON}/stats")).json()
    assert stats["rate_limits"]["limits"][0]["topic"] == limited
    assert stats["rate_limits"]["throttled"] >= 5
    assert stats["redis_pending"] >= 5  # throttled events are still pending
    listed = (await api.get(LIMITS)).json()
    assert listed["limits"][0]["throttled"] == listed["throttled"] >= 5
    waiting = sorted(set(f"o{i}" for i in range(10)) - set(ids(fired)))[-1]
    status = (await api.get(f"/api/v1/schedules/{waiting}")).json()
    assert (status["status"], status["hot_state"]) == ("scheduled", "throttled")
    metrics = (await api.get(f"{MON}/metrics")).text
    assert "schedules_throttled " in metrics

    r = await api.delete(f"{LIMITS}/{limited}")
    assert r.status_code == 200 and r.json() == {"topic": limited, "cleared": True, "limit": None}
    assert len(await limited_reader.read(10, timeout=15)) == 10  # the rest at once
    assert (await api.get(f"{LIMITS}/{limited}")).status_code == 404
    r = await api.delete(f"{LIMITS}/{limited}")
    assert r.status_code == 404 and "no rate limit set at run time" in r.json()["detail"]


async def test_a_runtime_limit_overrides_the_setting_until_cleared(
    make_client: MakeClient, settings: Settings
) -> None:
    api = await make_client(
        settings.model_copy(update={"topic_rate_limits": "orders=100,emails=5:50"})
    )
    listed = (await api.get(LIMITS)).json()["limits"]
    assert [(x["topic"], x["events_per_second"], x["burst"], x["source"]) for x in listed] == [
        ("emails", 5.0, 50.0, "settings"),
        ("orders", 100.0, 100.0, "settings"),
    ]
    r = await api.put(f"{LIMITS}/orders", json={"events_per_second": 20.5})
    assert r.json()["source"] == "runtime" and r.json()["overrides"] == {
        "events_per_second": 100.0,
        "burst": 100.0,
    }
    assert r.json()["burst"] == 20.5
    r = await api.delete(f"{LIMITS}/orders")
    assert r.json()["limit"]["source"] == "settings"
    assert (await api.get(f"{LIMITS}/orders")).json()["events_per_second"] == 100.0
    # A setting's limit is not removed at run time: 404, naming why.
    r = await api.delete(f"{LIMITS}/emails")
    assert r.status_code == 404 and "emails" in r.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("orders", {"events_per_second": 0}, "events_per_second"),
        ("orders", {"events_per_second": -5}, "events_per_second"),
        ("orders", {"events_per_second": 2e6}, "events_per_second"),
        ("orders", {"events_per_second": "5"}, "events_per_second"),
        ("orders", {"events_per_second": True}, "events_per_second"),
        ("orders", {"events_per_second": None}, "events_per_second"),
        ("orders", {}, "events_per_second"),
        ("orders", {"events_per_second": 5, "burst": 0.5}, "burst"),
        ("orders", {"events_per_second": 5, "burst": "lots"}, "burst"),
        ("orders", {"events_per_second": 5, "rate": 5}, "rate"),
        ("orders", None, "body"),
        ("orders", [5], "body"),
        ("no%20spaces", {"events_per_second": 5}, "topic"),
        ("x" * 250, {"events_per_second": 5}, "topic"),
    ],
)
async def test_bad_input_names_the_field(
    api: httpx.AsyncClient, path: str, body: object, field: str
) -> None:
    r = await api.put(f"{LIMITS}/{path}", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field, r.text
    assert (await api.get(LIMITS)).json()["limits"] == []


async def test_a_token_guards_setting_and_clearing(make_client: MakeClient, settings) -> None:
    api = await make_client(settings.model_copy(update={"api_token": "s3cret"}))
    assert (await api.put(f"{LIMITS}/orders", json={"events_per_second": 5})).status_code == 401
    assert (await api.delete(f"{LIMITS}/orders")).status_code == 401
    assert (await api.get(LIMITS)).status_code == 200  # reading stays open
    auth = {"Authorization": "Bearer s3cret"}
    r = await api.put(f"{LIMITS}/orders", json={"events_per_second": 5}, headers=auth)
    assert r.status_code == 200


def test_paths_do_not_shadow_a_schedule_id() -> None:
    """/api/v1/schedules/<one segment> is a schedule: the limits live under monitoring/."""
    paths = create_app(Settings()).openapi()["paths"]
    assert f"{LIMITS}/{{topic}}" in paths and LIMITS in paths
    assert "/api/v1/schedules/rate-limits" not in paths
