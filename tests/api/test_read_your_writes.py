"""Read-your-writes: after the API acknowledged a schedule, GET finds it in whatever state
it has reached, even before the journal has written a row to ClickHouse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scheduler.hot.store import HotStore
from scheduler.kafka import ensure_topics
from scheduler.settings import Settings
from tests.api.conftest import MakeClient

URL = "/api/v1/schedules"


async def test_an_event_that_fired_at_once_is_never_unknown(
    make_client: MakeClient, hybrid_settings: Settings, hot: HotStore, read_topic, uid: str
) -> None:
    # A flush interval far beyond the test: nothing reaches ClickHouse meanwhile.
    s = hybrid_settings.model_copy(update={"analytics_flush_interval": 300.0})
    topic = f"ryw-{uid}"
    await ensure_topics(s, [topic])
    api = await make_client(s, roles=["executor"])
    reader = await read_topic(topic)
    past = (datetime.now(UTC) - timedelta(seconds=3)).isoformat()
    r = await api.post(URL, json={"topic": topic, "body": "now", "scheduled_at": past,
                                  "schedule_id": f"ryw-{uid}"})  # fmt: skip
    assert r.status_code == 201, r.text
    first = await api.get(f"{URL}/ryw-{uid}")
    assert first.status_code == 200, first.text
    assert first.json()["status"] in ("scheduled", "executed")
    (fired,) = await reader.read(1, timeout=20)
    assert fired.value == b"now"
    # Published and acknowledged: gone from Redis, not yet in ClickHouse.
    after = await api.get(f"{URL}/ryw-{uid}")
    assert after.status_code == 200, after.text
    assert after.json()["status"] == "executed"


async def test_a_cancelled_event_reads_cancelled_before_any_flush(
    make_client: MakeClient, hybrid_settings: Settings
) -> None:
    s = hybrid_settings.model_copy(update={"analytics_flush_interval": 300.0})
    api = await make_client(s)
    r = await api.post(URL, json={"topic": "t", "body": "b", "delay_seconds": 60,
                                  "schedule_id": "c-1"})  # fmt: skip
    assert r.status_code == 201
    assert (await api.delete(f"{URL}/c-1")).status_code == 200
    got = await api.get(f"{URL}/c-1")
    assert got.status_code == 200, got.text
    assert got.json()["status"] == "cancelled"
