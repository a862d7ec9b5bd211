"""Per-topic rate limits with real executors, Redis and the Kafka-protocol broker: the
limit holds across executors, nothing fires early or is lost, other topics and higher
priorities are not held up, and limits work with pauses.

Rates are checked from the broker's record timestamps with generous bounds: a behaviour
check, not a timing test. The upper bound is the token bucket's promise (in any window of
t seconds at most burst + rate x t events fire), with slack for the moment between a
claim and the record's timestamp."""

from __future__ import annotations

import time

import pytest
from conftest import eventually

from scheduler.errors import InvalidEvent
from scheduler.hot.executor import Executor
from scheduler.hot.outcome import Outcome
from scheduler.hot.pause import PauseControl, Scope
from scheduler.hot.ratelimit import RateLimitControl, Source
from scheduler.hot.store import MAX_SKIP, HotStore
from scheduler.kafka import ensure_topics
from scheduler.models import Event
from scheduler.settings import RateLimit, Settings


def event(sid: str, topic: str, at: float, priority: int = 0, **kw: object) -> Event:
    return Event(
        schedule_id=sid,
        topic=topic,
        body=f"body-{sid}".encode(),
        scheduled_at=at,
        priority=priority,
        **kw,  # type: ignore[arg-type]
    )


def ids(messages: list) -> list[str]:  # type: ignore[type-arg]
    return [dict(m.headers)["schedule_id"].decode() for m in messages]


def record_times(messages: list) -> list[float]:  # type: ignore[type-arg]
    return sorted(m.timestamp / 1000 for m in messages)


def assert_within_limit(times: list[float], rate: float, burst: float, slack: float) -> None:
    """In every window [times[i], times[j]] at most burst + rate x width (+ slack) fired."""
    for i in range(len(times)):
        for j in range(i, len(times)):
            allowed = burst + rate * (times[j] - times[i]) + slack
            assert j - i + 1 <= allowed, (i, j, times[j] - times[i])


@pytest.fixture
def limits(hot: HotStore) -> RateLimitControl:
    return RateLimitControl(hot, {})


@pytest.fixture
async def topics(settings: Settings, uid: str) -> tuple[str, str]:
    """A topic to limit and another, both on the broker."""
    pair = (f"limited-{uid}", f"free-{uid}")
    await ensure_topics(settings, pair)
    return pair


def count_claims(executor: Executor) -> list[int]:
    """Counts the executor's claim calls (still the real script on the real Redis)."""
    calls = [0]
    claim = executor.store.claim

    async def counting(*args: object, **kw: object) -> object:
        calls[0] += 1
        return await claim(*args, **kw)  # type: ignore[arg-type]

    executor.store.claim = counting  # type: ignore[method-assign]
    return calls


async def test_limit_holds_across_two_executors_and_nothing_is_early_or_lost(
    hot: HotStore,
    limits: RateLimitControl,
    topics: tuple[str, str],
    start_executor,
    read_topic,
    drained,
) -> None:
    limited, _ = topics
    rate, burst, n = 40.0, 5.0, 160
    await limits.set(limited, rate, burst)
    now = time.time()
    # Due over the first second, and all due before the limit lets most of them fire.
    events = [event(f"e{i:03d}", limited, now + i / n) for i in range(n)]
    await hot.schedule(events)
    due = {ev.schedule_id: ev.scheduled_at for ev in events}
    reader = await read_topic(limited)
    outcomes: list[Outcome] = []
    await start_executor(outcomes)
    await start_executor(outcomes)
    messages = await reader.read(n, timeout=60)
    assert sorted(ids(messages)) == sorted(due)  # nothing lost
    assert await drained()
    assert len(await reader.settle(0.5)) == n  # each once
    for m in messages:  # never early
        assert m.timestamp / 1000 >= due[dict(m.headers)["schedule_id"].decode()] - 0.002
    times = record_times(messages)
    assert_within_limit(times, rate, burst, slack=rate * 1.0)  # 1 s of jitter
    # Not much slower than the limit either: (n - burst) / rate = 3.9 s.
    assert times[-1] - times[0] < (n - burst) / rate * 1.5 + 1
    # Lateness is recorded as for any event: each outcome has its firing time.
    assert len(outcomes) == n and all(o.status == "success" for o in outcomes)
    assert max(o.executed_at - o.event.scheduled_at for o in outcomes) > 1.0  # some waited


async def test_other_topics_and_higher_priorities_are_not_held_up(
    hot: HotStore,
    limits: RateLimitControl,
    topics: tuple[str, str],
    start_executor,
    read_topic,
) -> None:
    """A throttled backlog larger than a claim's scan (MAX_SKIP), due before the rest."""
    limited, free = topics
    await limits.set(limited, 20.0)
    now = time.time()
    backlog = [event(f"b{i}", limited, now - 30, priority=i % 3 - 1) for i in range(2 * MAX_SKIP)]
    others = [event(f"o{i}", free, now - 1, priority=i % 3 - 1) for i in range(300)]
    others += [event(f"hi{i}", limited, now - 1, priority=5) for i in range(3)]
    await hot.schedule([*backlog, *others])
    limited_reader, free_reader = await read_topic(limited), await read_topic(free)
    started = time.time()
    await start_executor()
    assert len(await free_reader.read(300, timeout=15)) == 300
    # Meanwhile the limited topic fired at its limit (20/s), far from through its backlog.
    fired = await limited_reader.settle(0.2)
    assert 0 < len(fired) <= 20 + 20 * (time.time() - started) + 10
    # Throttled events are pending: counted (before they are counted as waiting: they
    # keep firing meanwhile), reported, cancellable.
    pending = (await hot.counts())["pending"]
    waiting = (await limits.state()).throttled[limited]
    assert pending >= waiting >= MAX_SKIP
    sid = next(s for s in (f"b{i}" for i in range(2 * MAX_SKIP - 1, 0, -1)) if s not in ids(fired))
    assert (await hot.get(sid))[0] == "throttled"  # type: ignore[index]
    assert await hot.cancel(sid) == "pending"
    assert await hot.get(sid) is None
    assert await hot.remove_orphans([f"b{i}" for i in range(2 * MAX_SKIP)]) == 0
    # Clearing the limit lets the rest go at once.
    assert await limits.clear(limited)
    assert len(await limited_reader.read(2 * MAX_SKIP + 3 - 1, timeout=30)) == 2 * MAX_SKIP + 2
    assert (await limits.state()).throttled == {}


async def test_throttled_events_fire_in_due_order_and_the_executor_sleeps(
    settings: Settings,
    hot: HotStore,
    topics: tuple[str, str],
    start_executor,
    read_topic,
) -> None:
    """A limit from the settings (SCHEDULES_TOPIC_RATE_LIMITS); one executor, one batch at
    a time, so the order on the topic is the firing order."""
    limited, _ = topics
    limited_settings = settings.model_copy(update={"topic_rate_limits": f"{limited}=4:1"})
    now = time.time()
    await hot.schedule([event(f"e{i}", limited, now - 10 + i * 0.01) for i in range(8)])
    reader = await read_topic(limited)
    executor = await start_executor(settings_=limited_settings, concurrent_batches=1)
    claims = count_claims(executor)
    messages = await reader.read(8, timeout=20)
    order = sorted(messages, key=lambda m: (m.timestamp, m.offset))
    assert ids(order) == [f"e{i}" for i in range(8)]
    times = record_times(messages)
    assert_within_limit(times, 4.0, 1.0, slack=2.0)
    # ~1.75 s of waiting for tokens (4/s): the executor slept until each, not spinning.
    assert claims[0] < 60


async def test_a_paused_limited_topic_waits_for_its_resume(
    hot: HotStore,
    limits: RateLimitControl,
    topics: tuple[str, str],
    start_executor,
    read_topic,
    drained,
) -> None:
    limited, _ = topics
    pauses = PauseControl(hot)
    await limits.set(limited, 10.0, 2.0)
    now = time.time()
    await hot.schedule([event(f"e{i}", limited, now - 1) for i in range(30)])
    reader = await read_topic(limited)
    await start_executor()
    # Some fired, the rest wait for tokens; then the topic is paused.
    await reader.read(3, timeout=10)
    await pauses.pause(Scope.TOPIC, topic=limited)
    before = len(await reader.settle(0.5))
    assert before < 30
    # "Nothing fires while paused" can only be watched for a while.
    assert len(await reader.settle(1.0)) == before
    await pauses.resume(Scope.TOPIC, topic=limited)
    messages = await reader.read(30, timeout=20)
    assert sorted(ids(messages)) == sorted(f"e{i}" for i in range(30))
    assert await drained()
    after = record_times(messages)[before:]
    assert_within_limit(after, 10.0, 2.0, slack=5.0)


async def test_a_priority_pause_holds_throttled_events_below_it(
    hot: HotStore,
    limits: RateLimitControl,
    topics: tuple[str, str],
    start_executor,
    read_topic,
    drained,
) -> None:
    limited, _ = topics
    pauses = PauseControl(hot)
    await limits.set(limited, 5.0, 1.0)
    now = time.time()
    await hot.schedule(
        [event(f"low{i}", limited, now - 2, priority=-1) for i in range(5)]
        + [event(f"high{i}", limited, now - 1, priority=1) for i in range(5)]
    )
    reader = await read_topic(limited)
    await start_executor()
    await reader.read(1, timeout=10)
    await pauses.pause(Scope.PRIORITY, priority_below=0)
    # The low ones still waiting for a token are held, not fired: the highs all fire.
    messages = await reader.read(5, timeout=20)
    fired = set(ids(await reader.settle(1.0)))
    assert {f"high{i}" for i in range(5)} <= fired
    assert len(fired) < 10
    await pauses.resume(Scope.PRIORITY)
    assert len(await reader.read(10, timeout=20)) == 10
    assert messages and await drained()


async def test_events_throttled_past_their_max_delay_are_skipped(
    hot: HotStore,
    limits: RateLimitControl,
    topics: tuple[str, str],
    start_executor,
    read_topic,
    drained,
) -> None:
    limited, free = topics
    await limits.set(limited, 0.5, 1.0)  # after "first", the next token comes in 2 s
    now = time.time()
    await hot.schedule(
        [
            event("first", limited, now - 0.5),
            event("strict", limited, now, max_delay_seconds=1),
            event("other", free, now, max_delay_seconds=1),
        ]
    )
    outcomes: list[Outcome] = []
    await start_executor(outcomes)
    assert await eventually(lambda: len(outcomes) == 3, timeout=15)
    assert await drained()
    assert {o.event.schedule_id: o.status for o in outcomes} == {
        "first": "success",
        "strict": "skipped",
        "other": "success",
    }


async def test_limits_are_checked_reported_and_override_the_settings(
    hot: HotStore, topics: tuple[str, str]
) -> None:
    limited, free = topics
    control = RateLimitControl(hot, {free: RateLimit(100.0)})
    for kwargs, name in [
        ({"topic": "no spaces", "rate": 1.0}, "topic"),
        ({"topic": limited, "rate": 0.0}, "events_per_second"),
        ({"topic": limited, "rate": float("inf")}, "events_per_second"),
        ({"topic": limited, "rate": True}, "events_per_second"),
        ({"topic": limited, "rate": 5.0, "burst": 0.5}, "burst"),
    ]:
        with pytest.raises(InvalidEvent) as err:
            await control.set(**kwargs)  # type: ignore[arg-type]
        assert err.value.field == name
    state = await control.state()
    assert [(lim.topic, lim.source) for lim in state.limits] == [(free, Source.SETTINGS)]
    assert state.limits[0].limit.capacity == 100.0
    over = await control.set(free, 2.5, 10, now=1000.0)
    assert (over.limit, over.source, over.overrides) == (
        RateLimit(2.5, 10.0),
        Source.RUNTIME,
        RateLimit(100.0),
    )
    assert over.to_dict()["since"].startswith("1970-01-01T00:16:40")
    await control.set(limited, 0.5)
    assert (await control.get(limited)).limit.capacity == 1.0  # type: ignore[union-attr]
    assert await control.clear(free)
    assert not await control.clear(free)
    assert (await control.get(free)).source is Source.SETTINGS  # type: ignore[union-attr]
    # An entry written by someone else is reported as nothing (and limits nothing).
    await hot.redis.hset(hot.keys.rate_limits, "odd", "not json")
    assert [lim.topic for lim in (await control.state()).limits] == [free, limited]


async def test_claim_without_limits_stays_cheap(
    hot: HotStore, limits: RateLimitControl, topics: tuple[str, str]
) -> None:
    """The throttling machinery is two empty reads when no limit is set: the claim script
    does no per-event topic work (measured in Redis's own command statistics)."""
    limited, _ = topics
    now = time.time()
    await hot.schedule([event(f"e{i}", limited, now - 1) for i in range(200)])
    await hot.redis.config_resetstat()
    batch = await hot.claim(200, 30)
    assert len(batch.items) == 200 and batch.throttle_wait is None and batch.throttled == 0
    stats = await hot.redis.info("commandstats")
    # Redis's clock is read once, for due-ness and leases, not per event or per topic.
    assert stats["cmdstat_time"]["calls"] == 1
    # A claim with a limit reads that same clock once and writes the bucket once.
    await hot.schedule([event(f"f{i}", limited, now - 1) for i in range(50)])
    await limits.set(limited, 10.0, 20.0)
    await hot.redis.config_resetstat()
    batch = await hot.claim(200, 30)
    assert len(batch.items) == 20 and batch.throttled == 30
    assert batch.throttle_wait is not None and 0 < batch.throttle_wait <= 0.1
    stats = await hot.redis.info("commandstats")
    assert stats["cmdstat_time"]["calls"] == 1
