"""Recurring schedules through the Kafka envelope form, on the real broker and Redis:
`{"recurring": {...}}` creates or replaces, a redelivery changes nothing,
`{"recurring_delete": id}` deletes, a bad definition is dead-lettered naming the field."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from scheduler.errors import RecurringNotFound
from scheduler.hot.store import HotStore
from scheduler.service import SchedulerService
from scheduler.settings import Settings
from tests.conftest import eventually


def definition(**fields: Any) -> dict[str, Any]:
    return {"recurring_id": "from-kafka", "event": {"topic": "t", "body": "x"}} | fields


async def pending(hot: HotStore) -> list[str]:
    return sorted(m.decode() for m in await hot.redis.zrange(hot.keys.scheduled, 0, -1))


async def test_the_envelope_form(
    settings: Settings, producer: AIOKafkaProducer, hot: HotStore, read_topic
) -> None:
    service = SchedulerService(settings)
    await service.start(roles=["consumer"])
    try:

        async def send(message: dict[str, Any]) -> None:
            # Keyed by recurring_id, as the README asks: one partition, so in order.
            await producer.send_and_wait(
                settings.delayed_topic, orjson.dumps(message), key=b"from-kafka"
            )

        async def version() -> int | None:
            try:
                return (await service.get_recurring("from-kafka")).version
            except RecurringNotFound:
                return None

        await send({"recurring": definition(interval_seconds=600)})

        async def six() -> bool:  # the definition, then its occurrences an hour ahead
            return await version() == 1 and len(await pending(hot)) == 6

        assert await eventually(six, timeout=20)
        assert all(sid.startswith("from-kafka@1@") for sid in await pending(hot))

        # Redelivered (the same definition), then changed: one new version.
        await send({"recurring": definition(interval_seconds=600)})
        await send({"recurring": definition(interval_seconds=1200)})

        async def version_2() -> bool:
            ids = await pending(hot)
            return await version() == 2 and bool(ids) and all("@2@" in sid for sid in ids)

        assert await eventually(version_2, timeout=20)
        assert len(await pending(hot)) == 3  # every 20 minutes

        dlq = await read_topic(settings.dead_letter_topic)
        await send({"recurring": definition(cron="0 25 * * *")})
        (dead,) = await dlq.read(1, timeout=20)
        headers = dict(dead.headers)
        assert headers["x-dlq-reason"] == b"invalid"
        assert b"recurring.cron" in headers["x-dlq-error"] or b"cron" in headers["x-dlq-error"]

        await send({"recurring_delete": "from-kafka"})

        async def gone() -> bool:  # the definition, then its pending occurrences
            return await version() is None and await pending(hot) == []

        assert await eventually(gone, timeout=20)
        await send({"recurring_delete": "from-kafka"})  # again: nothing to do, no dead letter
        await send({"recurring_delete": "a@b"})
        (_, dead) = await dlq.read(2, timeout=20)
        assert dict(dead.headers)["x-dlq-error"].startswith(b"recurring_delete: must be")
    finally:
        await service.stop()


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"recurring": definition(interval_seconds=5), "topic": "t"}, "recurring"),
        ({"recurring": "daily"}, "recurring"),
        ({"recurring": definition(interval_seconds=5, timezone="Nowhere")}, "recurring.timezone"),
        (
            {"recurring": definition(interval_seconds=5, event={"topic": "t", "body": "x",
                                                                "headers": {"attempt": "1"}})},
            "recurring.event.headers",
        ),
    ],
)  # fmt: skip
def test_bad_recurring_messages_name_the_field(message: dict[str, Any], field: str) -> None:
    from aiokafka.structs import ConsumerRecord

    from scheduler.errors import InvalidEvent
    from scheduler.ingest.envelope import parse_recurring_envelope
    from scheduler.models import Limits

    rec: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        "d", 0, 0, 0, 0, None, orjson.dumps(message), None, 0, 0, []
    )
    with pytest.raises(InvalidEvent) as exc:
        parse_recurring_envelope(rec, Limits(1 << 20, 64, 1 << 14, 86400))
    assert exc.value.field == field, str(exc.value)


async def test_a_definition_refused_when_applied_is_dead_lettered_not_retried(
    settings: Settings, producer: AIOKafkaProducer, hot: HotStore, read_topic
) -> None:
    from aiokafka.structs import ConsumerRecord

    from scheduler.ingest.consumer import DelayedEventsConsumer
    from scheduler.models import Limits
    from scheduler.recurring.schedules import RecurringSchedules
    from scheduler.recurring.store import RecurringStore
    from scheduler.router import Router

    # The consumer parsed it under looser limits than apply now (a lowered setting).
    loose, tight = Limits(1 << 20, 64, 1 << 14, 86400), Limits(10, 64, 1 << 14, 86400)
    router = Router(hot, settings.immediate_horizon_seconds)
    recurring = RecurringSchedules(RecurringStore(hot), router, tight, window_seconds=60)
    consumer = DelayedEventsConsumer(
        None,  # type: ignore[arg-type]  # handle() reads nothing from Kafka
        producer,
        router,
        loose,
        settings.dead_letter_topic,
        batch_size=10,
        max_dead_letter_bytes=1 << 20,
        recurring=recurring,
    )
    big = definition(interval_seconds=60, event={"topic": "t", "body": "x" * 100})
    small = definition(recurring_id="small", interval_seconds=60)
    records = [
        ConsumerRecord(settings.delayed_topic, 0, i, 0, 0, None, orjson.dumps(m), None, 0, 0, [])
        for i, m in enumerate([{"recurring": big}, {"recurring": small}])
    ]
    dlq = await read_topic(settings.dead_letter_topic)
    result = await consumer.handle(records)
    assert (result.recurring, result.dead_lettered) == (1, 1)
    (dead,) = await dlq.read(1, timeout=20)
    assert b"event: body is 100 bytes; the limit is 10" in dict(dead.headers)["x-dlq-error"]
    assert [d.recurring_id for d in await recurring.all()] == ["small"]
