"""An executor whose clock is wrong by 30 s, either way, fires nothing early and nothing
late, and takes no lease early: due-ness, lease deadlines and the wait for the next due
event are decided by Redis's clock. The executors are real `serve --role executor`
processes under Debian's faketime (libfaketime through LD_PRELOAD); Redis, the broker and
this test keep the real clock.

When an event fired is judged by when this test received it: a record cannot arrive
before it was produced, so one received before its due time was fired early. The record's
timestamp (CreateTime, which the executor sets) is checked too: it is Redis's time, so it
is neither before the due time nor after the arrival."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from conftest import TopicReader, role_process

from scheduler.hot.store import HotStore
from scheduler.kafka import ensure_topics
from scheduler.models import Event
from scheduler.settings import Settings

SKEW = 30
# Lateness that counts as on time: generous for a loaded machine (an executor process
# polling its reaper every lease / 3), and far below the skew it would show otherwise.
ON_TIME = 10.0
LEASE = 4  # the executor processes' lease: their reapers look every 1.3 s


def faketime(seconds: int) -> dict[str, str]:
    """The environment that makes a process's wall clock run `seconds` off: Debian's
    faketime preloads libfaketime; its own wrapper would fork, so a signal to the process
    started would not reach the executor. The monotonic clock stays real, as under NTP."""
    path = shutil.which("faketime")
    assert path, "faketime is missing: scripts/bootstrap.sh installs Debian's faketime"
    shown = subprocess.run([path, "-f", "+0s", "env"], capture_output=True, text=True, check=True)
    (preload,) = [v for k, _, v in (line.partition("=") for line in shown.stdout.split("\n"))
                  if k == "LD_PRELOAD"]  # fmt: skip
    env = {"LD_PRELOAD": preload, "FAKETIME": f"{seconds:+d}s", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    # It does move Python's clock here.
    seen = subprocess.run(
        [sys.executable, "-c", "import time; print(time.time())"],
        env={**os.environ, **env}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert abs(float(seen.stdout) - time.time() - seconds) < 5, seen.stdout
    return env


@pytest.fixture
async def executors(settings: Settings) -> AsyncIterator[Callable[..., Any]]:
    """Start executor processes whose clocks run `seconds` off (faketime)."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(seconds: int) -> subprocess.Popen[bytes]:
        proc = role_process(
            settings,
            "executor",
            SCHEDULES_LEASE_SECONDS=str(LEASE),
            # Idle waits are as long as the head says: a wait measured by the wrong
            # clock would oversleep by the skew.
            SCHEDULES_REDIS_PROCESSING_INTERVAL="60",
            **faketime(seconds),
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


class Arrivals:
    """When (by this test's real clock) each schedule_id first arrived on a topic, in all
    and per delivery attempt (the `attempt` header)."""

    def __init__(self, reader: TopicReader) -> None:
        self.reader = reader
        self.at: dict[str, float] = {}
        self.stamp: dict[str, float] = {}  # the record's timestamp (Unix s)
        self.attempts: dict[tuple[str, int], float] = {}

    async def wait_for(self, wanted: set[str] | set[tuple[str, int]], timeout: float) -> bool:
        """Until each schedule_id (or (schedule_id, attempt)) arrived; False on timeout."""

        def missing() -> bool:
            return any(w not in self.at and w not in self.attempts for w in wanted)

        async def fill() -> None:
            while missing():
                batch = await self.reader.consumer.getmany(timeout_ms=100)
                now = time.time()
                for recs in batch.values():
                    for m in recs:
                        headers = dict(m.headers)
                        sid = headers["schedule_id"].decode()
                        self.at.setdefault(sid, now)
                        self.stamp.setdefault(sid, m.timestamp / 1000)
                        self.attempts.setdefault((sid, int(headers["attempt"])), now)

        try:
            await asyncio.wait_for(fill(), timeout)
        except TimeoutError:
            return False
        return True


def ev(sid: str, topic: str, at: float) -> Event:
    return Event(schedule_id=sid, topic=topic, body=sid.encode(), scheduled_at=at)


async def redis_time(hot: HotStore) -> float:
    seconds, micros = await hot.redis.time()
    return seconds + micros / 1_000_000


@pytest.mark.parametrize("skew", [SKEW, -SKEW], ids=["ahead", "behind"])
async def test_a_skewed_executor_fires_on_time_and_respects_leases(
    settings: Settings, hot: HotStore, executors, read_topic, drained, uid: str, skew: int
) -> None:
    topic = f"target-{uid}"
    await ensure_topics(settings, [topic, settings.delayed_topic, settings.dead_letter_topic])
    arrivals = Arrivals(await read_topic(topic))
    # Claimed by an executor that is alive but slow (this test): its lease lasts 10 s by
    # Redis's clock, and only then may the skewed executor reap it and fire it again.
    await hot.schedule([ev("leased", topic, time.time() - 1)])
    batch = await hot.claim(1, 10)
    assert [c.event.schedule_id for c in batch.items] == ["leased"]
    leased_until = batch.now + 10
    executors(skew)
    # Long overdue even by a clock 30 s behind: its arrival says the executor is running.
    await hot.schedule([ev("ready", topic, time.time() - 2 * SKEW)])
    assert await arrivals.wait_for({"ready"}, timeout=60), "the executor never fired"

    now = time.time()
    due = {f"e{i}": now + 2 + i / 2 for i in range(8)}  # 2 to 5.5 s from now
    await hot.schedule([ev(sid, topic, at) for sid, at in due.items()])
    due["leased"] = leased_until

    assert await arrivals.wait_for(set(due), timeout=SKEW - 5), (
        f"not fired within {SKEW - 5} s: {sorted(set(due) - arrivals.at.keys())}"
    )
    early = {
        sid: round(due[sid] - arrivals.at[sid], 3) for sid in due if arrivals.at[sid] < due[sid]
    }
    assert early == {}, f"fired this many seconds early: {early}"
    late = {sid: round(arrivals.at[sid] - due[sid], 3) for sid in due}
    assert max(late.values()) < ON_TIME, f"fired late: {late}"
    stamps = {sid: (arrivals.stamp[sid] - due[sid], arrivals.at[sid] - due[sid]) for sid in due}
    assert all(-0.001 < stamp <= arrived + 0.5 for stamp, arrived in stamps.values()), (
        f"record timestamps not by Redis's clock (stamp, arrival - due): {stamps}"
    )
    # It fired once, after its lease expired, which counted as an attempt.
    assert ("leased", 1) not in arrivals.attempts and ("leased", 2) in arrivals.attempts
    assert await drained()


async def test_leases_of_an_executor_behind_are_not_taken_early_by_one_ahead(
    settings: Settings, hot: HotStore, executors, read_topic, drained, uid: str
) -> None:
    topic = f"target-{uid}"
    await ensure_topics(settings, [topic, settings.delayed_topic, settings.dead_letter_topic])
    arrivals = Arrivals(await read_topic(topic))
    behind = executors(-SKEW)
    await hot.schedule([ev("ready", topic, time.time() - 2 * SKEW)])
    assert await arrivals.wait_for({"ready"}, timeout=60), "the executor behind never fired"
    # Freeze the executor behind while it holds leases (as tests/hot/test_crash.py does),
    # then start one ahead: the leases end LEASE s after the claim by Redis's clock.
    ids = {f"e{i}" for i in range(2000)}
    await hot.schedule([ev(sid, topic, time.time()) for sid in ids])
    held: dict[str, float] = {}
    give_up = time.time() + 60
    while not held and time.time() < give_up:
        if await hot.redis.zcard(hot.keys.inflight):
            behind.send_signal(signal.SIGSTOP)
            pairs = await hot.redis.zrange(hot.keys.inflight, 0, -1, withscores=True)
            held = {member.decode(): score for member, score in pairs}
            if not held:
                behind.send_signal(signal.SIGCONT)
        else:
            await asyncio.sleep(0.001)
    assert held, "the executor behind never held a lease"
    now = await redis_time(hot)
    assert all(now < deadline <= now + LEASE for deadline in held.values()), (
        "lease deadlines not set by Redis's clock"
    )

    executors(SKEW)
    refired = {(sid, 2) for sid in held}
    assert await arrivals.wait_for(refired, timeout=SKEW - 5), "the leases were never reaped"
    early = {
        sid: round(deadline - arrivals.attempts[(sid, 2)], 3)
        for sid, deadline in held.items()
        if arrivals.attempts[(sid, 2)] < deadline
    }
    assert early == {}, f"leases taken this many seconds early: {early}"
    assert await arrivals.wait_for(ids, timeout=60)
    assert await drained()
