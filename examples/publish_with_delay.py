"""Scheduling through Kafka from a service's own producer, next to a running `make dev`.

    make dev                                     # one terminal; it writes .dev/env
    set -a; . .dev/env; set +a                   # another: KAFKA_BOOTSTRAP_SERVERS, ...
    .venv/bin/python examples/publish_with_delay.py
    hybrid-scheduler tail user.notifications --count 1   # watch the near one fire
    hybrid-scheduler status <schedule_id>

Puts two envelopes on the delayed topic (`delayed_events`, KAFKA_DELAYED_TOPIC_NAME's
default; `publish_with_delay(..., delayed_topic=...)` names another): one due in 30
minutes and one due in a second; `dev`'s consumer stores them and its executor fires
them. Prints each schedule_id.
"""

from __future__ import annotations

import asyncio
import os

from aiokafka import AIOKafkaProducer

from scheduler.ingest.publish import publish_with_delay


async def main() -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        acks="all",
    )
    await producer.start()
    try:
        schedule_id = await publish_with_delay(
            producer,
            topic="user.notifications",
            entity_type="user",
            action="send_reminder",
            body={"user_id": 123},
            delay_seconds=1800,
            correlation_id="reminder-123",
        )
        print("published", schedule_id, "due in 30 minutes")
        soon = await publish_with_delay(
            producer,
            topic="user.notifications",
            body={"user_id": 123},
            delay_seconds=1,
        )
        print("published", soon, "due in a second")
    finally:
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(main())
