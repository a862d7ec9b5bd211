"""on_conflict=replace in the Kafka envelope (debounce through the delayed topic), end to
end on real Redis and Tansu."""

from __future__ import annotations

import orjson
from aiokafka import AIOKafkaProducer
from conftest import eventually

from scheduler.hot.store import HotStore
from scheduler.ingest.publish import publish_with_delay
from scheduler.kafka import ensure_topics
from scheduler.service import SchedulerService
from scheduler.settings import Settings


async def test_envelopes_debounce_a_pending_event(
    settings: Settings, producer: AIOKafkaProducer, hot: HotStore, read_topic, uid: str
) -> None:
    topic = f"debounce-{uid}"
    await ensure_topics(settings, [topic, settings.delayed_topic, settings.dead_letter_topic])
    service = SchedulerService(settings)
    await service.start(roles=["consumer"])
    try:
        sid = f"cart-{uid}"
        for body in ("one", "two", "three"):
            await publish_with_delay(
                producer,
                delayed_topic=settings.delayed_topic,
                topic=topic,
                body=body,
                delay_seconds=300,
                schedule_id=sid,
                on_conflict="replace",
            )

        async def latest() -> bool:
            found = await hot.get(sid)
            return found is not None and found[1].body == b"three"

        assert await eventually(latest, timeout=30)
        assert await hot.counts() == {"pending": 1, "held": 0, "in_flight": 0}
        # keep (the default) leaves it as it is.
        keep = {"topic": topic, "body": "kept?", "delay_seconds": 5, "schedule_id": sid}
        await producer.send_and_wait(settings.delayed_topic, orjson.dumps(keep), key=sid.encode())
        consumer = service.runtime.consumer
        assert consumer is not None
        assert await eventually(lambda: consumer.totals.duplicates >= 1, timeout=30)
        assert consumer.totals.replaced == 2
        assert (await hot.get(sid))[1].body == b"three"  # type: ignore[index]

        # In flight: the replacing envelope is dead-lettered with the reason; the event
        # fires as it was.
        busy = f"busy-{uid}"
        first = {"topic": topic, "body": "as it was", "delay_seconds": 0, "schedule_id": busy}
        await producer.send_and_wait(settings.delayed_topic, orjson.dumps(first), key=busy.encode())
        assert await eventually(lambda: hot.get(busy), timeout=30)
        assert len((await hot.claim(10, 30)).items) == 1
        second = {**first, "body": "too late", "on_conflict": "replace"}
        await producer.send_and_wait(
            settings.delayed_topic, orjson.dumps(second), key=busy.encode()
        )
        (dead,) = await (await read_topic(settings.dead_letter_topic)).read(1, timeout=30)
        assert dead.value == orjson.dumps(second)
        headers = dict(dead.headers)
        assert headers["x-dlq-reason"] == b"in_flight"
        assert b"in flight" in headers["x-dlq-error"]
        assert (await hot.get(busy)) is not None
        assert (await hot.get(busy))[1].body == b"as it was"  # type: ignore[index]
    finally:
        await service.stop()
