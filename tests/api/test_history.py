"""GET /api/v1/schedules/{schedule_id}/history on the real services: an event scheduled,
rescheduled to now, failing (its attempts spent by executors that died, then dead-lettered
by a real executor) and replayed until it fires has those entries in order; a sync's move
into Redis is an entry; unknown ids are a 404; without the cold tier the history is what
Redis holds, and says so."""

from __future__ import annotations

from typing import Any

import httpx
from conftest import eventually

from scheduler.hot.store import HotStore
from scheduler.kafka import ensure_topics
from scheduler.settings import Settings
from tests.api.conftest import MakeClient
from tests.deadletters.helpers import MAX_ATTEMPTS

S = "/api/v1/schedules"


async def history_of(api: httpx.AsyncClient, sid: str) -> dict[str, Any]:
    r = await api.get(f"{S}/{sid}/history")
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


async def test_scheduled_rescheduled_failed_then_fired(
    make_client: MakeClient, hybrid_settings: Settings, hot: HotStore, read_topic, uid: str
) -> None:
    topic = f"history-{uid}"
    s = hybrid_settings.model_copy(update={"max_attempts": MAX_ATTEMPTS})
    await ensure_topics(s, [topic, s.dead_letter_topic])
    target = await read_topic(topic)
    api = await make_client(s)  # no executor yet
    event = {"topic": topic, "body": "b", "delay_seconds": 7200, "schedule_id": "hist-1"}
    assert (await api.post(S, json=event)).status_code == 201
    first = await history_of(api, "hist-1")
    assert first["complete"] is True
    kinds = [e["kind"] for e in first["entries"]]
    assert kinds in (["created", "pending"], ["created", "scheduled"]), first

    r = await api.patch(f"{S}/hist-1", json={"delay_seconds": 0})
    assert r.status_code == 200, r.text
    # Executors claim it and die before acking, until its attempts are spent.
    for _ in range(MAX_ATTEMPTS):
        batch = await hot.claim(1, -0.01)
        assert [c.event.schedule_id for c in batch.items] == ["hist-1"]
        assert await hot.reap() == 1
    # A real executor dead-letters it (the failed attempt), a replay fires it.
    fired = await make_client(s, roles=["executor"])

    async def dead_lettered() -> bool:
        found = (await fired.get(f"{S}/hist-1")).json()
        return found["status"] == "error"

    assert await eventually(dead_lettered, timeout=20, interval=0.2)

    async def replayed() -> bool:
        r = await fired.post("/api/v1/dead-letters/replay", json={"topic": topic, "limit": 5})
        assert r.status_code == 200, r.text
        return bool(r.json()["replayed"] == 1)

    assert await eventually(replayed, timeout=20, interval=0.5)
    assert [dict(m.headers)["schedule_id"] for m in await target.read(1, timeout=20)] == [b"hist-1"]

    async def complete() -> list[dict[str, Any]] | None:
        entries: list[dict[str, Any]] = (await history_of(fired, "hist-1"))["entries"]
        kinds = [e["kind"] for e in entries]
        return entries if kinds.count("attempt") == 2 and kinds[-1] == "executed" else None

    entries = await eventually(complete, timeout=30, interval=0.5)
    assert isinstance(entries, list), await history_of(fired, "hist-1")
    kinds = [e["kind"] for e in entries]
    assert kinds == ["created", "rescheduled", "attempt", "error", "attempt", "executed"], entries
    created, moved, failed, dead, succeeded, done = entries
    assert "due" in created["detail"]
    assert "rescheduled to" in moved["detail"]
    assert (failed["outcome"], succeeded["outcome"]) == ("error", "success")
    assert failed["error"]
    assert "dead-lettered" in dead["detail"]
    assert done["detail"] == "published"
    times = [e["at"] for e in entries[1:]]
    assert times == sorted(times)


async def test_created_cold_then_moved_into_redis_by_a_sync(
    make_client: MakeClient, hybrid_settings: Settings
) -> None:
    s = hybrid_settings.model_copy(
        # Beyond the immediate horizon when scheduled (cold); the sync's window (the
        # horizon) reaches it two seconds later. No executor: it stays in Redis.
        update={"immediate_horizon_seconds": 2, "transfer_horizon_seconds": 3600}
    )
    api = await make_client(s)
    event = {"topic": "t", "body": "b", "delay_seconds": 4, "schedule_id": "hist-sync"}
    r = await api.post(S, json=event)
    assert r.status_code == 201 and r.json()["tier"] == "cold", r.text
    assert [e["kind"] for e in (await history_of(api, "hist-sync"))["entries"]] == [
        "created",
        "pending",
    ]

    async def moved() -> list[dict[str, Any]] | None:
        # The sync moves it once it is due within the horizon and its row is written.
        r = await api.post(f"{S}/monitoring/sync")
        assert r.status_code == 200, r.text
        found: list[dict[str, Any]] = (await history_of(api, "hist-sync"))["entries"]
        return found if found[-1]["kind"] != "pending" else None

    entries = await eventually(moved, timeout=20, interval=0.3)
    assert isinstance(entries, list)
    assert [e["kind"] for e in entries] == ["created", "transferred", "scheduled"], entries
    assert "created in the cold tier" in entries[0]["detail"]
    assert entries[2]["detail"] == "waiting in Redis (pending)"


async def test_unknown_schedule_is_404(hybrid_api: httpx.AsyncClient) -> None:
    r = await hybrid_api.get(f"{S}/nobody-here/history")
    assert r.status_code == 404
    assert "nobody-here" in r.json()["detail"]


async def test_without_the_cold_tier_what_redis_holds(api: httpx.AsyncClient) -> None:
    event = {"topic": "t", "body": "b", "delay_seconds": 600, "schedule_id": "hist-hot"}
    assert (await api.post(S, json=event)).status_code == 201
    found = await history_of(api, "hist-hot")
    assert found["complete"] is False and "cold tier" in found["note"]
    assert [e["kind"] for e in found["entries"]] == ["created", "scheduled"]
    assert "pending" in found["entries"][1]["detail"]
    assert (await api.get(f"{S}/nobody-here/history")).status_code == 404
