"""Pausing and resuming firing (all, one topic, priorities below a threshold) with real
executors, Redis and the Kafka-protocol broker."""

from __future__ import annotations

import asyncio
import time

import pytest
from conftest import eventually

from scheduler.errors import InvalidEvent
from scheduler.hot.executor import Executor
from scheduler.hot.outcome import Outcome
from scheduler.hot.pause import PauseControl, Scope
from scheduler.hot.store import MAX_SKIP, HotStore
from scheduler.kafka import ensure_topics
from scheduler.models import Event
from scheduler.settings import Settings


def event(sid: str, topic: str, at: float, priority: int = 0, **kw: object) -> Event:
    return Event(
        schedule_id=sid,
        topic=topic,
        body=f"body-{sid}".encode(),
        scheduled_at=at,
        priority=priority,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def pauses(hot: HotStore) -> PauseControl:
    return PauseControl(hot)


@pytest.fixture
async def topic(settings: Settings, uid: str) -> str:
    """A topic that exists on the broker."""
    topic = f"target-{uid}"
    await ensure_topics(settings, [topic])
    return topic


def count_claims(executor: Executor) -> list[int]:
    """Counts the executor's claim calls (still the real script on the real Redis)."""
    calls = [0]
    claim = executor.store.claim

    async def counting(*args: object, **kw: object) -> object:
        calls[0] += 1
        return await claim(*args, **kw)  # type: ignore[arg-type]

    executor.store.claim = counting  # type: ignore[method-assign]
    return calls


async def held(pauses: PauseControl, n: int) -> bool:
    """The executors have held `n` due events aside for a pause."""
    return (await pauses.state()).held == n


def ids(messages: list) -> list[str]:  # type: ignore[type-arg]
    return [dict(m.headers)["schedule_id"].decode() for m in messages]


async def test_pause_all_holds_every_event_until_resume(
    hot: HotStore, pauses: PauseControl, topic: str, start_executor, read_topic, drained
) -> None:
    state = await pauses.pause(Scope.ALL, reason="maintenance")
    assert state.all and state.to_dict()["pauses"][0]["reason"] == "maintenance"
    now = time.time()
    await hot.schedule([event(f"e{i}", topic, now - 1 + i * 0.01) for i in range(20)])
    reader = await read_topic(topic)
    claims = count_claims(await start_executor())
    # "Nothing fires" can only be watched for a while: a second of quiet while paused.
    assert await reader.settle(1.0) == []
    # The executor did look, polling, not spinning on the due head (PAUSED_POLL_SECONDS 0.1 s).
    assert 0 < claims[0] < 40
    assert (await hot.counts())["pending"] == 20
    assert (await hot.get("e3")) is not None  # still scheduled

    state, _ = await pauses.resume(Scope.ALL)
    assert not state.pauses
    assert sorted(ids(await reader.read(20))) == sorted(f"e{i}" for i in range(20))
    assert await drained()
    assert len(await reader.settle(0.5)) == 20  # each once


@pytest.mark.parametrize("name_length", [12, 200])  # msgpack fixstr and str8 topics
async def test_topic_pause_holds_that_topic_only(
    settings: Settings,
    hot: HotStore,
    pauses: PauseControl,
    start_executor,
    read_topic,
    drained,
    uid: str,
    name_length: int,
) -> None:
    paused = f"paused-{uid}-".ljust(name_length, "x")
    other = f"other-{uid}"
    await ensure_topics(settings, [paused, other])
    await pauses.pause(Scope.TOPIC, topic=paused)
    now = time.time()
    await hot.schedule(
        [event(f"p{i}", paused, now - 1, priority=i % 3 - 1) for i in range(6)]
        + [event(f"o{i}", other, now - 0.5, priority=i % 3 - 1) for i in range(6)]
    )
    paused_reader, other_reader = await read_topic(paused), await read_topic(other)
    await start_executor()
    assert sorted(ids(await other_reader.read(6))) == [f"o{i}" for i in range(6)]
    assert await paused_reader.settle(0.5) == []  # a quiet period: nothing of it fired
    state = await pauses.state()
    assert state.topics == [paused] and state.held == 6
    assert (await hot.counts())["pending"] == 6  # held events are still pending
    # A held event can be cancelled, and nothing of it is left behind.
    assert await hot.cancel("p1") == "pending"
    assert await hot.get("p1") is None
    assert await hot.remove_orphans([f"p{i}" for i in range(6)]) == 0  # held is not debris

    state, moved = await pauses.resume(Scope.TOPIC, topic=paused)
    assert moved == 5 and state.held == 0 and not state.pauses
    assert sorted(ids(await paused_reader.read(5))) == ["p0", "p2", "p3", "p4", "p5"]
    assert await drained()


async def test_priority_pause_sheds_low_priorities(
    hot: HotStore, pauses: PauseControl, topic: str, start_executor, read_topic, drained
) -> None:
    await pauses.pause(Scope.PRIORITY, priority_below=1, reason="load shedding")
    now = time.time()
    await hot.schedule(
        [event("high", topic, now - 1, priority=5)]
        + [event(f"zero{i}", topic, now - 2, priority=0) for i in range(3)]
        + [event(f"neg{i}", topic, now - 3, priority=-2) for i in range(3)]
    )
    reader = await read_topic(topic)
    claims = count_claims(await start_executor())
    assert ids(await reader.read(1)) == ["high"]
    assert len(await reader.settle(1.0)) == 1
    assert claims[0] < 40  # polling the paused, due head, not spinning on it

    # Lowering the threshold lets priority 0 through; negatives stay paused.
    state = await pauses.pause(Scope.PRIORITY, priority_below=0)
    assert state.priority_below == 0 and len(state.pauses) == 1
    await hot.redis.publish(hot.keys.wakeup, "test")
    assert sorted(ids(await reader.read(4))[1:]) == ["zero0", "zero1", "zero2"]
    assert len(await reader.settle(0.5)) == 4

    await pauses.resume(Scope.PRIORITY)
    assert sorted(ids(await reader.read(7))[4:]) == ["neg0", "neg1", "neg2"]
    assert await drained()


@pytest.mark.parametrize("scope", [Scope.TOPIC, Scope.PRIORITY])
async def test_a_paused_backlog_does_not_block_what_may_fire(
    settings: Settings,
    hot: HotStore,
    pauses: PauseControl,
    topic: str,
    start_executor,
    read_topic,
    uid: str,
    scope: Scope,
) -> None:
    """More paused due events than one claim scans (MAX_SKIP) ahead of one that may fire."""
    paused = f"paused-{uid}"
    await ensure_topics(settings, [paused])
    n = 2 * MAX_SKIP + 500
    now = time.time()
    if scope is Scope.TOPIC:
        await pauses.pause(Scope.TOPIC, topic=paused)
        backlog = [event(f"b{i}", paused, now - 60) for i in range(n)]
    else:
        await pauses.pause(Scope.PRIORITY, priority_below=0)
        backlog = [event(f"b{i}", topic, now - 60, priority=-1) for i in range(n)]
    await hot.schedule([*backlog, event("free", topic, now - 1)])
    reader = await read_topic(topic)
    await start_executor()
    assert ids(await reader.read(1, timeout=10)) == ["free"]
    assert (await pauses.state()).held == n

    await pauses.resume(Scope.ALL)
    if scope is Scope.TOPIC:
        reader = await read_topic(paused)
    assert len(await reader.read(n if scope is Scope.TOPIC else n + 1, timeout=60)) >= n


async def test_held_events_return_when_a_pause_ends_without_resume(
    hot: HotStore, pauses: PauseControl, topic: str, start_executor, read_topic, drained
) -> None:
    """A pause removed behind our back (an interrupted resume, or an operator's HDEL):
    the executors' reaper puts its held events back once no pause is left."""
    await pauses.pause(Scope.TOPIC, topic=topic)
    await hot.schedule([event(f"e{i}", topic, time.time() - 1) for i in range(5)])
    reader = await read_topic(topic)
    await start_executor()
    assert await eventually(lambda: held(pauses, 5))
    await hot.redis.delete(hot.keys.paused)
    assert sorted(ids(await reader.read(5, timeout=15))) == [f"e{i}" for i in range(5)]
    assert await drained()


async def test_events_paused_past_their_max_delay_are_skipped(
    hot: HotStore, pauses: PauseControl, topic: str, start_executor, read_topic, drained
) -> None:
    await pauses.pause(Scope.ALL)
    now = time.time()
    await hot.schedule(
        [event("strict", topic, now, max_delay_seconds=1), event("lenient", topic, now)]
    )
    outcomes: list[Outcome] = []
    reader = await read_topic(topic)
    await start_executor(outcomes)
    # Part of the scenario, not a wait for a result: the pause lasts until "strict" is
    # later than its max_delay_seconds (1 s after `now`); only time passing does that.
    await asyncio.sleep(max(0.0, now + 1.3 - time.time()))
    await pauses.resume(Scope.ALL)
    assert ids(await reader.read(1)) == ["lenient"]
    assert await drained()
    assert {o.event.schedule_id: o.status for o in outcomes} == {
        "strict": "skipped",
        "lenient": "success",
    }


async def test_pause_arguments_are_checked(pauses: PauseControl) -> None:
    with pytest.raises(InvalidEvent) as err:
        await pauses.pause(Scope.TOPIC, topic="no spaces")
    assert err.value.field == "topic"
    with pytest.raises(InvalidEvent) as err:
        await pauses.pause(Scope.PRIORITY)
    assert err.value.field == "priority_below"
    with pytest.raises(InvalidEvent) as err:
        await pauses.pause(Scope.ALL, reason="x" * 501)
    assert err.value.field == "reason"
    assert not (await pauses.state()).pauses
    # Pausing twice keeps the first `since`.
    first = await pauses.pause(Scope.ALL, now=1000.0)
    again = await pauses.pause(Scope.ALL, now=2000.0)
    assert first.pauses == again.pauses and again.pauses[0].since == 1000.0


async def test_resuming_one_topic_while_another_holds_a_backlog_returns(
    settings: Settings,
    hot: HotStore,
    pauses: PauseControl,
    topic: str,
    start_executor,
    read_topic,
    uid: str,
) -> None:
    """Executors re-hold the other topic's events while resume puts them back: the
    resume must still end, and the other topic stays paused."""
    other = f"other-{uid}"
    await ensure_topics(settings, [other])
    await pauses.pause(Scope.TOPIC, topic=topic)
    await pauses.pause(Scope.TOPIC, topic=other)
    now = time.time()
    await hot.schedule(
        [event(f"a{i}", topic, now - 1) for i in range(5)]
        + [event(f"b{i}", other, now - 1) for i in range(3000)]
    )
    reader, other_reader = await read_topic(topic), await read_topic(other)
    await start_executor()
    await start_executor()
    assert await eventually(lambda: held(pauses, 3005))
    state, _ = await asyncio.wait_for(pauses.resume(Scope.TOPIC, topic=topic), 10)
    assert state.topics == [other]
    assert sorted(ids(await reader.read(5))) == [f"a{i}" for i in range(5)]
    assert await other_reader.settle(0.5) == []  # a quiet period: the other stays paused


async def test_lowering_the_priority_threshold_frees_held_events(
    hot: HotStore, pauses: PauseControl, topic: str, start_executor, read_topic
) -> None:
    await pauses.pause(Scope.PRIORITY, priority_below=0)
    now = time.time()
    await hot.schedule([event("zero", topic, now), event("neg", topic, now - 1, priority=-3)])
    reader = await read_topic(topic)
    await start_executor()
    assert ids(await reader.read(1)) == ["zero"]
    assert (await pauses.state()).held == 1
    state = await pauses.pause(Scope.PRIORITY, priority_below=-10)
    assert state.held == 0 and state.priority_below == -10
    assert ids(await reader.read(2)) == ["zero", "neg"]


async def test_an_unreadable_priority_pause_pauses_nothing(
    hot: HotStore, topic: str, start_executor, read_topic
) -> None:
    await hot.redis.hset(hot.keys.paused, "priority", "not json")
    await hot.schedule([event("e", topic, time.time())])
    reader = await read_topic(topic)
    await start_executor()
    assert ids(await reader.read(1)) == ["e"]
