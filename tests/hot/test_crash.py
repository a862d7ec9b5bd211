"""kill -9 of an executor process holding leases: every event still fires."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter

from conftest import role_process

from scheduler.hot.store import HotStore
from scheduler.kafka import ensure_topics
from scheduler.models import Event
from scheduler.settings import Settings

N = 20_000


def executor_process(settings: Settings) -> subprocess.Popen[bytes]:
    return role_process(
        settings, "executor", SCHEDULES_LEASE_SECONDS="4", SCHEDULES_EXECUTOR_BATCH_SIZE="200"
    )


async def test_killed_executor_loses_nothing(
    settings: Settings, hot: HotStore, start_executor, drained, read_topic, uid: str
) -> None:
    topic = f"target-{uid}"
    await ensure_topics(settings, [topic, settings.delayed_topic, settings.dead_letter_topic])
    now = time.time()
    ids = {f"e{i}" for i in range(N)}
    await hot.schedule(
        [Event(schedule_id=s, topic=topic, body=b"x", scheduled_at=now) for s in ids]
    )

    proc = executor_process(settings)
    held: set[bytes] = set()
    try:
        deadline = time.time() + 60
        while not held and time.time() < deadline:
            if await hot.redis.zcard(hot.keys.inflight):
                proc.send_signal(signal.SIGSTOP)  # freeze it mid-batch, then look
                held = set(await hot.redis.zrange(hot.keys.inflight, 0, -1))
                if not held:
                    proc.send_signal(signal.SIGCONT)
            else:
                await asyncio.sleep(0.001)
        assert held, "the executor process never held a lease"
        assert (await hot.counts())["pending"] > 0, "it finished before it could be killed"
    finally:
        proc.kill()  # SIGKILL: no cleanup, leases stay behind
        proc.wait()
    assert set(await hot.redis.zrange(hot.keys.inflight, 0, -1)) == held

    reader = await read_topic(topic)
    await start_executor()  # its reaper returns the dead process's leases after they expire
    await reader.read(N, timeout=120)
    seen = [dict(m.headers)["schedule_id"] for m in await reader.settle(1.0)]
    assert {s.decode() for s in seen} == ids
    duplicates = {s for s, n in Counter(seen).items() if n > 1}
    assert duplicates <= held  # only what the dead process may have produced fires twice
    redelivered = [
        m
        for m in reader.messages
        if dict(m.headers)["schedule_id"] in held and dict(m.headers)["attempt"] == b"2"
    ]
    assert {dict(m.headers)["schedule_id"] for m in redelivered} == held
    assert await drained()
