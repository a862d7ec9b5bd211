"""The executor against real Redis and a real Kafka-protocol broker."""

from __future__ import annotations

import logging
import math
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from conftest import eventually

from devstack.services import free_port, start_kafka
from scheduler.hot.breaker import State
from scheduler.hot.outcome import Outcome
from scheduler.hot.store import HotStore
from scheduler.kafka import ensure_topics
from scheduler.models import Event
from scheduler.settings import Settings


def count_calls(obj: object, name: str) -> list[int]:
    """Counts calls of obj.name (still the real method, on the real Redis)."""
    calls = [0]
    method = getattr(obj, name)

    async def counting(*args: object, **kw: object) -> object:
        calls[0] += 1
        return await method(*args, **kw)

    setattr(obj, name, counting)
    return calls


def event(sid: str, topic: str, at: float, **kw: object) -> Event:
    return Event(schedule_id=sid, topic=topic, body=f"body-{sid}".encode(), scheduled_at=at, **kw)  # type: ignore[arg-type]


async def test_event_is_published_as_given_with_scheduler_headers(
    settings: Settings, hot: HotStore, start_executor, drained, read_topic, uid: str
) -> None:
    topic = f"target-{uid}"
    await ensure_topics(settings, [topic])
    body = 'héllo {"x": 1}\x00\xff'.encode("utf-8", "surrogatepass")
    at = round(time.time() + 0.5, 3)  # whole milliseconds: the header is exact
    ev = Event(
        schedule_id="s-1",
        topic=topic,
        body=body,
        scheduled_at=at,
        entity_type="user",
        action="send_reminder",
        correlation_id="corr-9",
        headers={"priority": "high", "trace": "abc"},
    )
    await hot.schedule([ev])
    reader = await read_topic(topic)
    await start_executor()
    (msg,) = await reader.read(1)
    assert msg.value == body
    assert msg.key == b"corr-9"
    headers = dict(msg.headers)
    assert headers == {
        "priority": b"high",
        "trace": b"abc",
        "schedule_id": b"s-1",
        "correlation_id": b"corr-9",
        "entity_type": b"user",
        "action": b"send_reminder",
        "scheduled_at": datetime.fromtimestamp(at, UTC)
        .strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        .encode(),
        "attempt": b"1",
    }
    assert await drained()
    assert await hot.get("s-1") is None


async def test_events_never_fire_early_and_each_fires_once(
    settings: Settings, hot: HotStore, start_executor, read_topic, uid: str
) -> None:
    topic = f"target-{uid}"
    await ensure_topics(settings, [topic])
    now = time.time()
    events = [event(f"e{i}", topic, now + 0.05 * i) for i in range(40)]
    await hot.schedule(events)
    outcomes: list[Outcome] = []
    reader = await read_topic(topic)
    await start_executor(outcomes)
    msgs = await reader.read(40)
    due = {e.schedule_id: e.scheduled_at for e in events}
    for m in msgs:
        sid = dict(m.headers)["schedule_id"].decode()
        # CreateTime is stamped when the executor hands the event to the producer.
        assert m.timestamp >= math.floor(due[sid] * 1000), sid
    assert sorted(dict(m.headers)["schedule_id"] for m in await reader.settle(0.5)) == sorted(
        e.schedule_id.encode() for e in events
    )
    assert all(
        o.status == "success" and o.executed_at >= due[o.event.schedule_id] for o in outcomes
    )


async def test_an_earlier_event_wakes_a_sleeping_executor(
    settings: Settings, hot: HotStore, start_executor, read_topic, uid: str
) -> None:
    topic = f"target-{uid}"
    await ensure_topics(settings, [topic])
    await hot.schedule([event("far", topic, time.time() + 3600)])
    reader = await read_topic(topic)
    ex = await start_executor(idle_interval=30.0)  # would otherwise sleep 30 s
    idle = count_calls(ex.store, "due_in")  # read only when nothing is due

    async def asleep() -> bool:
        # Found nothing due, read the head (an hour away), and listens for wake-ups.
        ((_, subscribers),) = await hot.redis.pubsub_numsub(hot.keys.wakeup)
        return idle[0] >= 1 and subscribers >= 1

    assert await eventually(asleep)
    at = time.time() + 0.2
    await hot.schedule([event("soon", topic, at)])
    (msg,) = await reader.read(1, timeout=10)
    assert dict(msg.headers)["schedule_id"] == b"soon"
    assert msg.timestamp / 1000 - at < 5  # generous: far below the 30 s idle wait


async def test_past_events_fire_at_once_unless_later_than_max_delay(
    settings: Settings, hot: HotStore, start_executor, drained, read_topic, uid: str
) -> None:
    topic = f"target-{uid}"
    await ensure_topics(settings, [topic])
    now = time.time()
    await hot.schedule(
        [
            event("overdue", topic, now - 30),
            event("too-late", topic, now - 30, max_delay_seconds=10),
        ]
    )
    outcomes: list[Outcome] = []
    reader = await read_topic(topic)
    await start_executor(outcomes)
    msgs = await reader.read(1)
    await reader.settle(0.5)
    assert [dict(m.headers)["schedule_id"] for m in msgs] == [b"overdue"]
    assert sorted((o.event.schedule_id, o.status) for o in outcomes) == [
        ("overdue", "success"),
        ("too-late", "skipped"),
    ]
    assert await drained()


async def test_exhausted_retries_go_to_the_dead_letter_topic(
    settings: Settings, hot: HotStore, start_executor, drained, read_topic, uid: str
) -> None:
    topic = f"target-{uid}"
    await ensure_topics(settings, [topic, settings.dead_letter_topic])
    now = time.time()
    await hot.schedule([event("doomed", topic, now - 1), event("fine", topic, now - 1)])
    # Three executors claimed "doomed" and died before acking: its leases expired.
    for _ in range(3):
        batch = await hot.claim(1, -0.01)
        assert [c.event.schedule_id for c in batch.items] == ["doomed"]
        assert await hot.reap() == 1
    dlq = await read_topic(settings.dead_letter_topic)
    target = await read_topic(topic)
    outcomes: list[Outcome] = []
    await start_executor(outcomes, max_attempts=3)
    (dead,) = await dlq.read(1)
    headers = dict(dead.headers)
    assert dead.value == b"body-doomed"
    assert headers["x-dlq-reason"] == b"retries_exhausted"
    assert headers["x-original-topic"] == topic.encode()
    assert headers["schedule_id"] == b"doomed"
    assert [dict(m.headers)["schedule_id"] for m in await target.read(1)] == [b"fine"]
    assert {(o.event.schedule_id, o.status) for o in outcomes} == {
        ("doomed", "dead_letter"),
        ("fine", "success"),
    }
    assert await drained()


async def test_event_the_producer_refuses_is_kept_not_lost(
    settings: Settings,
    hot: HotStore,
    start_executor,
    uid: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Accepted under an older, larger SCHEDULES_MAX_BODY_BYTES; now too large to produce
    # anywhere (the dead-letter topic included): it must stay in Redis, not vanish.
    caplog.set_level(logging.ERROR, logger="scheduler.hot.executor")
    topic = f"target-{uid}"
    await ensure_topics(settings, [topic, settings.dead_letter_topic])
    big = Event(schedule_id="big", topic=topic, body=b"x" * 3_000_000, scheduled_at=time.time() - 1)
    await hot.schedule([big])
    outcomes: list[Outcome] = []
    await start_executor(outcomes)

    def refusals() -> int:
        return caplog.text.count("dead-lettering big failed")

    # The executor did try: the topic refused it as too large (permanent), then the
    # dead-letter topic did too, so it was handed back. Twice: it is tried again later.
    assert await eventually(lambda: refusals() >= 2)
    assert "MessageSizeTooLargeError" in caplog.text
    found = await hot.get("big")
    assert found is not None and found[1].body == big.body
    assert outcomes == []  # neither delivered nor dead-lettered
    # Not the event's fault on any try: no attempt counted against it.
    assert await hot.redis.hget(hot.keys.attempts, "big") is None


async def test_broker_outage_opens_the_breaker_and_loses_nothing(
    settings: Settings, hot: HotStore, start_executor, drained, uid: str, tmp_path: Path
) -> None:
    port = free_port()
    own = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{port}"})
    topic = f"target-{uid}"
    broker = start_kafka(port, tmp_path / "kafka")
    try:
        await ensure_topics(own, [topic])
        outcomes: list[Outcome] = []
        ex = await start_executor(
            outcomes, settings_=own, breaker_threshold=2, breaker_reset_seconds=0.5
        )
        broker.process.send_signal(signal.SIGSTOP)  # hung: connections open, no answers
        now = time.time()
        await hot.schedule([event(f"e{i}", topic, now + 0.01 * i) for i in range(20)])
        assert await eventually(lambda: ex.breaker.opened_total >= 1, timeout=60)
        counts = await hot.counts()
        assert counts["pending"] + counts["in_flight"] == 20
        # The outage is not the events' fault: no attempt was counted against them.
        assert await hot.redis.hlen(hot.keys.attempts) == 0

        broker.process.send_signal(signal.SIGCONT)
        reader = AIOKafkaConsumer(
            topic, bootstrap_servers=own.kafka_bootstrap_servers, auto_offset_reset="earliest"
        )
        await reader.start()
        try:
            seen: list[bytes] = []
            end = time.time() + 60
            while len(set(seen)) < 20 and time.time() < end:
                for recs in (await reader.getmany(timeout_ms=200)).values():
                    seen += [dict(r.headers)["schedule_id"] for r in recs]
        finally:
            await reader.stop()
        assert set(seen) == {f"e{i}".encode() for i in range(20)}
        assert ex.breaker.state is State.CLOSED
        assert {o.status for o in outcomes} <= {"success", "retry"}  # none dead-lettered
        assert await drained()
    finally:
        broker.process.send_signal(signal.SIGCONT)
        broker.stop()


async def test_an_unreadable_payload_is_dead_lettered_and_does_not_stall_its_batch(
    settings: Settings, hot: HotStore, start_executor, drained, read_topic, uid: str
) -> None:
    """A payload that is not one (an operator's HSET, a foreign writer) is published raw
    to the dead-letter topic and forgotten; the events claimed with it fire."""
    topic = f"target-{uid}"
    await ensure_topics(settings, [topic, settings.dead_letter_topic])
    now = time.time()
    await hot.schedule([event(f"ok-{i}", topic, now - 1) for i in range(3)])
    garbage = b"\xc1not msgpack"
    await hot.redis.hset(hot.keys.payloads, "bad-1", garbage)
    await hot.redis.zadd(hot.keys.scheduled, {"bad-1": now - 2})
    target, dlq = await read_topic(topic), await read_topic(settings.dead_letter_topic)
    await start_executor()
    fired = await target.read(3, timeout=20)
    assert sorted(m.value for m in fired) == [b"body-ok-0", b"body-ok-1", b"body-ok-2"]
    (dead,) = await dlq.read(1, timeout=20)
    assert dead.value == garbage
    headers = dict(dead.headers)
    assert headers["schedule_id"] == b"bad-1"
    assert headers["x-dlq-reason"] == b"unreadable_payload"
    assert await drained()
