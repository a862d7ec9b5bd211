"""PATCH /api/v1/schedules/{id} in the hot tier (Redis only), on the real services: the
new time, body, headers and priority; 404 and 409; hostile input; and a running executor
racing the reschedules."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import role_process

from scheduler.hot.store import HotStore
from scheduler.kafka import ensure_topics
from scheduler.settings import Settings
from tests.api.conftest import MakeClient

URL = "/api/v1/schedules"


def event(**kw: object) -> dict[str, object]:
    return {"topic": "user.notifications", "body": {"user_id": 1}, "delay_seconds": 60, **kw}


def at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def test_patch_gives_a_pending_event_a_new_time_body_headers_and_priority(
    api: httpx.AsyncClient, hot: HotStore
) -> None:
    r = await api.post(URL, json=event(schedule_id="r-1", priority=2, headers={"a": "1"}))
    assert r.status_code == 201, r.text
    before = r.json()["scheduled_at"]
    new_at = datetime.now(UTC) + timedelta(minutes=10)
    r = await api.patch(
        f"{URL}/r-1",
        json={
            "scheduled_at": new_at.isoformat(),
            "body": "new body",
            "headers": {"b": "2"},
            "priority": -5,
        },
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["schedule_id"] == "r-1"
    assert (answer["tier"], answer["previous_tier"]) == ("hot", "hot")
    assert datetime.fromisoformat(answer["scheduled_at"]) == new_at
    assert answer["previous_scheduled_at"] == before
    state, stored = await hot.get("r-1")  # type: ignore[misc]
    assert state == "pending"
    assert (stored.body, stored.headers, stored.priority) == (b"new body", {"b": "2"}, -5)
    assert stored.topic == "user.notifications"  # what PATCH does not name stays
    info = (await api.get(f"{URL}/r-1")).json()
    assert (info["status"], info["priority"]) == ("scheduled", -5)
    assert datetime.fromisoformat(info["scheduled_at"]) == new_at
    assert await hot.counts() == {"pending": 1, "held": 0, "in_flight": 0}

    # delay_seconds counts from now; a priority left out stays.
    r = await api.patch(f"{URL}/r-1", json={"delay_seconds": 30})
    assert r.status_code == 200, r.text
    moved = datetime.fromisoformat(r.json()["scheduled_at"])
    assert abs(moved - (datetime.now(UTC) + timedelta(seconds=30))) < timedelta(seconds=5)
    assert (await hot.get("r-1"))[1].priority == -5  # type: ignore[index]


async def test_unknown_in_flight_and_cancelled_schedules(
    api: httpx.AsyncClient, hot: HotStore
) -> None:
    r = await api.patch(f"{URL}/nobody", json={"delay_seconds": 5})
    assert (r.status_code, r.json()) == (404, {"detail": "no schedule 'nobody'"})

    assert (await api.post(URL, json=event(schedule_id="busy", delay_seconds=0))).status_code == 201
    claimed = await hot.claim(10, 30)  # an executor took it
    assert [c.event.schedule_id for c in claimed.items] == ["busy"]
    r = await api.patch(f"{URL}/busy", json={"delay_seconds": 60})
    assert r.status_code == 409, r.text
    assert "in flight" in r.json()["detail"]
    assert (await hot.get("busy"))[0] == "in_flight"  # type: ignore[index]

    assert (await api.post(URL, json=event(schedule_id="gone"))).status_code == 201
    assert (await api.delete(f"{URL}/gone")).status_code == 200
    # Without the cold tier there is no history: a cancelled id is unknown.
    assert (await api.patch(f"{URL}/gone", json={"delay_seconds": 5})).status_code == 404


async def test_a_time_beyond_the_horizon_without_the_cold_tier_is_refused(
    api: httpx.AsyncClient, settings: Settings, hot: HotStore
) -> None:
    assert (await api.post(URL, json=event(schedule_id="far"))).status_code == 201
    far = settings.immediate_horizon_seconds + 3600
    r = await api.patch(f"{URL}/far", json={"delay_seconds": far})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "scheduled_at"
    assert "cold tier is disabled" in r.json()["detail"]
    assert (await hot.get("far")) is not None


HOSTILE: list[tuple[Any, str]] = [
    ({}, "delay_seconds"),
    ({"delay_seconds": 5, "scheduled_at": "2030-01-01T00:00:00Z"}, "delay_seconds"),
    ({"delay_seconds": -1}, "delay_seconds"),
    ({"delay_seconds": "5"}, "delay_seconds"),
    ({"delay_seconds": True}, "delay_seconds"),
    ({"delay_seconds": 1e308}, "scheduled_at"),
    ({"scheduled_at": "2030-01-01T00:00:00"}, "scheduled_at"),
    ({"scheduled_at": 1893456000}, "scheduled_at"),
    ({"delay_seconds": 5, "topic": "other"}, "topic"),
    ({"delay_seconds": 5, "schedule_id": "x"}, "schedule_id"),
    ({"delay_seconds": 5, "headers": {"schedule_id": "x"}}, "headers"),
    ({"delay_seconds": 5, "headers": {"a": 1}}, "headers.a"),
    ({"delay_seconds": 5, "headers": {f"h{i}": "v" for i in range(65)}}, "headers"),
    ({"delay_seconds": 5, "body": {"n": 2**70}}, "body"),
    ({"delay_seconds": 5, "body": "x" * (1024 * 1024 + 1)}, "body"),
    ({"delay_seconds": 5, "priority": 2**31}, "priority"),
    ({"delay_seconds": 5, "priority": 1.5}, "priority"),
    ({"delay_seconds": 5, "body": None, "headers": None, "priority": None}, ""),
    ([1, 2], "body"),
    ("text", "body"),
]


@pytest.mark.parametrize(("payload", "field"), HOSTILE)
async def test_hostile_input_is_refused_naming_the_field_and_changes_nothing(
    api: httpx.AsyncClient, hot: HotStore, payload: Any, field: str
) -> None:
    assert (await api.post(URL, json=event(schedule_id="target"))).status_code == 201
    before = await hot.get("target")
    r = await api.patch(f"{URL}/target", json=payload)
    if not field:  # nulls are "not given": a time alone is a valid reschedule
        assert r.status_code == 200, r.text
        return
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field, r.text
    assert await hot.get("target") == before


async def test_bytes_that_are_not_json_are_refused(api: httpx.AsyncClient) -> None:
    assert (await api.post(URL, json=event(schedule_id="t2"))).status_code == 201
    for content in (b"\xff\xfe", b"{", b"[" * 5000 + b"]" * 5000):
        r = await api.patch(
            f"{URL}/t2", content=content, headers={"content-type": "application/json"}
        )
        assert r.status_code == 422, (content[:10], r.text)


@pytest.mark.parametrize(
    ("tiers", "executor"),
    [
        ("redis_only", "in_process"),
        ("with_cold_tier", "in_process"),
        ("redis_only", "serve_role"),  # a real `hybrid-scheduler serve --role executor`
    ],
)
async def test_rescheduled_while_falling_due_fires_once_at_one_of_the_two_times(
    make_client: MakeClient,
    tiers: str,
    executor: str,
    settings: Settings,
    hybrid_settings: Settings,
    start_executor,
    read_topic,
    uid: str,
) -> None:
    """Each event is rescheduled at the moment it falls due, against a running executor.
    A 200 means it fires at the new time; a 409 (in flight, or already executed) or,
    without the cold tier's history, a 404 (already fired and forgotten) means the old
    one; never both, never early."""
    api = await make_client(settings if tiers == "redis_only" else hybrid_settings)
    topic = f"race-{uid}"
    await ensure_topics(settings, [topic])
    reader = await read_topic(topic)
    if executor == "in_process":
        await start_executor()
        process = None
    else:
        process = role_process(settings, "executor")
    try:
        # The executor runs once a first event has fired.
        probe = {"topic": topic, "body": "probe", "delay_seconds": 0, "schedule_id": "probe"}
        assert (await api.post(URL, json=probe)).status_code == 201
        assert [m.value for m in await reader.read(1, timeout=60)] == [b"probe"]
        reader.messages.clear()
        await race(api, topic, reader, {200, 409} if tiers == "with_cold_tier" else {200, 404, 409})
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)


async def race(api: httpx.AsyncClient, topic: str, reader: Any, refused: set[int]) -> None:
    n = 40
    base = time.time() + 1.0
    old = {f"race-{i}": base + i * 0.025 for i in range(n)}
    for sid, t in old.items():
        sched = {"topic": topic, "body": sid, "schedule_id": sid}
        when = datetime.fromtimestamp(t, UTC).isoformat()
        assert (await api.post(URL, json=sched | {"scheduled_at": when})).status_code == 201
    new: dict[str, float] = {}
    answers: dict[str, int] = {}

    async def reschedule(i: int, sid: str) -> None:
        # Pace: arrive from 20 ms before it falls due to 10 ms after.
        await asyncio.sleep(max(0.0, old[sid] - 0.02 + (i % 4) * 0.01 - time.time()))
        # Every other one later, the rest a little earlier (already due).
        target = old[sid] + (0.5 if i % 2 == 0 else -0.2)
        r = await api.patch(
            f"{URL}/{sid}",
            json={"scheduled_at": datetime.fromtimestamp(target, UTC).isoformat(), "body": "new"},
        )
        answers[sid] = r.status_code
        if r.status_code == 200:
            new[sid] = datetime.fromisoformat(r.json()["scheduled_at"]).timestamp()

    await asyncio.gather(*(reschedule(i, sid) for i, sid in enumerate(old)))
    assert set(answers.values()) <= refused
    records = await reader.read(n, timeout=30)
    records = await reader.settle(quiet=1.5)
    fired: dict[str, list[Any]] = {}
    for rec in records:
        fired.setdefault(dict(rec.headers)["schedule_id"].decode(), []).append(rec)
    assert sorted(fired) == sorted(old)
    for sid, recs in fired.items():
        assert len(recs) == 1, (sid, len(recs))  # exactly once
        (rec,) = recs
        header_at = datetime.fromisoformat(dict(rec.headers)["scheduled_at"].decode()).timestamp()
        if answers[sid] == 200:  # the new version: its time and body
            assert (abs(header_at - new[sid]) < 1e-6, rec.value) == (True, b"new"), sid
        else:
            assert (abs(header_at - old[sid]) < 1e-3, rec.value) == (True, sid.encode()), sid
        assert rec.timestamp >= int(header_at * 1000), sid  # never early
