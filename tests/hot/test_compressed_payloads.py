"""Bodies kept deflated in Redis (SCHEDULES_HOT_COMPRESS_MIN_BYTES, scheduler/codec.py)
fire exactly as given, beside payloads stored plain as version 1 wrote them."""

from __future__ import annotations

import time

from conftest import role_process
from redis.asyncio import Redis

from scheduler import codec
from scheduler.hot.keys import Keys
from scheduler.hot.ratelimit import RateLimitControl
from scheduler.hot.store import CancelResult, HotStore
from scheduler.kafka import ensure_topics
from scheduler.models import Event
from scheduler.service import SchedulerService
from scheduler.settings import Settings

# 400 bytes of JSON as applications send them (UTF-8 beyond ASCII included).
BODY = (
    '{"event_id":"9f1c2e7a-4b3d-4e8a-a1f6-2d9c8b7e5f30","user_id":184467,'
    '"email":"maría.gonzález@example.com","created_at":"2026-12-02T11:58:43.512Z",'
    '"template":"appointment_reminder_v3","locale":"es-ES",'
    '"subject":"Su cita del jueves","message":"Hola María, le recordamos su cita con el '
    "Dr. Herrera el jueves a las 10:30. Si no puede venir, cancélela en la app, por "
    'favor.","channel":"email"}'
)


async def test_a_deflated_body_fires_through_the_executor_role_with_its_exact_bytes(
    settings: Settings, redis: Redis, hot: HotStore, read_topic, uid: str
) -> None:
    topic = f"target-{uid}"
    await ensure_topics(settings, [topic, settings.dead_letter_topic])
    redis_only = settings.model_copy(update={"cold_tier_enabled": False})
    assert redis_only.hot_compress_min_bytes == 256  # on by default
    service = SchedulerService(redis_only)
    await service.start()
    try:
        sid = await service.schedule_event(
            topic, BODY, delay_seconds=1, correlation_id="c-new", headers={"h": "v"}
        )
        (bulk,) = await service.schedule_events(
            [{"topic": topic, "body": BODY, "delay_seconds": 1, "correlation_id": "c-bulk"}]
        )
    finally:
        await service.stop()
    assert bulk.added and bulk.schedule_id is not None
    # An event stored as before compression existed (HotStore writes PLAIN by default):
    # what an upgraded executor finds pending in Redis.
    old = Event("old-1", topic, BODY.encode(), time.time() + 1, correlation_id="c-old")
    assert await hot.schedule([old]) == [True]

    payloads = Keys(settings.redis_key_prefix).payloads
    for one in (sid, bulk.schedule_id):  # one at a time, and the batch path
        stored = await redis.hget(payloads, one)
        assert stored is not None and stored[1] == codec.DEFLATED
        assert len(stored) < len(BODY.encode())  # the whole payload smaller than the body
    plain = await redis.hget(payloads, "old-1")
    assert plain is not None and plain[1] == codec.PLAIN
    found = await hot.get(sid)
    assert found is not None and found[1].body == BODY.encode()

    reader = await read_topic(topic)
    process = role_process(
        settings, "executor", SCHEDULES_COLD_TIER_ENABLED="false", SCHEDULES_METRICS_PORT="0"
    )
    try:
        messages = await reader.read(3, timeout=60)
    finally:
        process.terminate()
        process.wait(timeout=30)
    fired = {m.key: (m.value, dict(m.headers)) for m in messages}
    assert set(fired) == {b"c-new", b"c-bulk", b"c-old"}
    assert fired[b"c-bulk"][0] == BODY.encode()
    assert fired[b"c-new"][0] == BODY.encode()
    assert fired[b"c-new"][1]["h"] == b"v"
    assert fired[b"c-new"][1]["schedule_id"] == sid.encode()
    assert fired[b"c-old"][0] == BODY.encode()
    assert len(messages) == 3


async def test_the_scripts_find_the_topic_of_a_deflated_payload(
    settings: Settings, redis: Redis, uid: str
) -> None:
    """claim.lua and cancel.lua read the topic out of the payload (prelude.lua topic_of)
    to throttle a rate-limited topic and to cancel a throttled event."""
    hot = HotStore(redis, Keys(settings.redis_key_prefix), compress_min_bytes=1)
    limits = RateLimitControl(hot, {})
    topic = f"limited-{uid}"
    await limits.set(topic, 1.0, 2.0)  # a burst of 2, then one a second
    now = time.time()
    events = [Event(f"e{i}", topic, BODY.encode(), now - 10 + i) for i in range(5)]
    assert await hot.schedule(events) == [True] * 5
    stored = await redis.hmget(hot.keys.payloads, [ev.schedule_id for ev in events])
    assert [p[1] for p in stored] == [codec.DEFLATED] * 5
    batch = await hot.claim(10, 30)
    assert [c.event.schedule_id for c in batch.items] == ["e0", "e1"]
    assert [c.event.body for c in batch.items] == [BODY.encode()] * 2
    assert batch.throttled == 3
    assert (await limits.state()).throttled == {topic: 3}
    assert await hot.cancel("e4") is CancelResult.PENDING
    assert (await limits.state()).throttled == {topic: 2}
