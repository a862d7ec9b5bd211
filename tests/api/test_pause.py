"""POST /monitoring/pause and /resume: the runbook's load shedding over HTTP, with a real
executor firing to the real broker."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from scheduler.hot.store import HotStore
from scheduler.kafka import ensure_topics
from scheduler.settings import Settings

MON = "/api/v1/schedules/monitoring"


def ids(messages: list) -> list[str]:  # type: ignore[type-arg]
    return [dict(m.headers)["schedule_id"].decode() for m in messages]


async def test_pause_a_topic_over_http_then_resume(
    api: httpx.AsyncClient, settings: Settings, hot: HotStore, start_executor, read_topic, uid
) -> None:
    paused, other = f"orders-{uid}", f"emails-{uid}"
    await ensure_topics(settings, [paused, other])
    r = await api.post(f"{MON}/pause", json={"topic": paused, "reason": "INC-42"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["active"] and body["topics"] == [paused] and not body["all"]
    assert body["pauses"][0] | {"since": None} == {
        "scope": "topic",
        "topic": paused,
        "reason": "INC-42",
        "since": None,
        "priority_below": None,
    }
    at = datetime.fromtimestamp(time.time() + 0.3, UTC).isoformat()
    for sid, topic in (("p1", paused), ("p2", paused), ("o1", other)):
        event = {"topic": topic, "body": sid, "scheduled_at": at, "schedule_id": sid}
        assert (await api.post("/api/v1/schedules", json=event)).status_code == 201
    paused_reader, other_reader = await read_topic(paused), await read_topic(other)
    await start_executor()
    assert ids(await other_reader.read(1)) == ["o1"]
    assert await paused_reader.settle(0.5) == []

    stats = (await api.get(f"{MON}/stats")).json()
    assert stats["paused"]["topics"] == [paused] and stats["paused"]["held"] == 2
    assert stats["redis_pending"] == 2  # paused events are still pending
    status = (await api.get("/api/v1/schedules/p1")).json()
    assert (status["status"], status["hot_state"]) == ("scheduled", "held")
    metrics = (await api.get(f"{MON}/metrics")).text
    assert "schedules_held 2.0" in metrics and "schedules_pauses 1.0" in metrics

    r = await api.post(f"{MON}/resume", json={"topic": paused})
    assert r.status_code == 200 and r.json()["active"] is False
    assert sorted(ids(await paused_reader.read(2))) == ["p1", "p2"]
    assert (await api.get(f"{MON}/stats")).json()["paused"]["active"] is False


async def test_priority_threshold_and_resume_all(api: httpx.AsyncClient) -> None:
    r = await api.post(f"{MON}/pause", json={"priority_below": 0, "reason": "high load"})
    assert r.status_code == 200 and r.json()["priority_below"] == 0
    r = await api.post(f"{MON}/pause", json={"all": True})
    assert r.json()["all"] is True and len(r.json()["pauses"]) == 2
    r = await api.post(f"{MON}/resume", json={"priority": True})
    assert r.json()["priority_below"] is None and r.json()["all"] is True
    r = await api.post(f"{MON}/resume", json={"all": True})
    assert r.json() == {
        "active": False,
        "all": False,
        "topics": [],
        "priority_below": None,
        "held": 0,
        "pauses": [],
    }


async def test_priority_below_may_be_written_with_a_zero_fraction(api: httpx.AsyncClient) -> None:
    """5.0 is an integer to JSON Schema (schemathesis sends such): accepted as 5."""
    r = await api.post(f"{MON}/pause", json={"priority_below": 5.0})
    assert r.status_code == 200, r.text
    assert r.json()["priority_below"] == 5
    assert (await api.post(f"{MON}/resume", json={"all": True})).status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("pause", {}, "body"),
        ("pause", {"all": True, "topic": "x"}, "body"),
        ("pause", {"all": False}, "body"),
        ("pause", {"topic": "not a topic"}, "topic"),
        ("pause", {"priority_below": "low"}, "priority_below"),
        ("pause", {"priority_below": 2**40}, "priority_below"),
        ("pause", {"all": True, "reason": "x" * 501}, "reason"),
        ("pause", {"all": True, "everything": True}, "everything"),
        ("resume", {}, "body"),
        ("resume", {"topic": "a", "priority": True}, "body"),
        ("resume", {"topic": "../x"}, "topic"),
        ("resume", {"priority": 0}, "priority"),
        ("pause", {"priority_below": False}, "priority_below"),
        ("pause", {"priority_below": 1.5}, "priority_below"),
    ],
)
async def test_bad_pause_requests_name_the_problem(
    api: httpx.AsyncClient, path: str, body: dict[str, object], field: str
) -> None:
    r = await api.post(f"{MON}/{path}", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    assert (await api.get(f"{MON}/stats")).json()["paused"]["active"] is False
