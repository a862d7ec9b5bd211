"""Load generator process: schedules events at a steady rate straight into Redis.

    python -m bench.load REDIS_URL PREFIX TOPIC RATE DURATION DELAY

Runs in its own process so that generating load does not steal the executor's event loop.
Prints one JSON line: how many events it scheduled and the rate it achieved.
"""

from __future__ import annotations

import asyncio
import sys
import time

import orjson
from redis.asyncio import Redis

from bench.common import make_event
from scheduler.hot.keys import Keys
from scheduler.hot.store import HotStore

TICK = 0.01


async def main(
    url: str, prefix: str, topic: str, rate: float, duration: float, delay: float
) -> None:
    redis = Redis.from_url(url)
    store = HotStore(redis, Keys(prefix))
    per_tick = rate * TICK
    start = time.time()
    sent = 0
    tick = 0
    while (now := time.time()) < start + duration:
        due = int((tick + 1) * per_tick) - int(tick * per_tick)
        await store.schedule([make_event(topic, now + delay) for _ in range(due)])
        sent += due
        tick += 1
        await asyncio.sleep(max(0.0, start + tick * TICK - time.time()))
    elapsed = time.time() - start
    print(orjson.dumps({"scheduled": sent, "seconds": elapsed, "rate": sent / elapsed}).decode())
    await redis.aclose()


if __name__ == "__main__":
    url, prefix, topic, rate, duration, delay = sys.argv[1:7]
    asyncio.run(main(url, prefix, topic, float(rate), float(duration), float(delay)))
