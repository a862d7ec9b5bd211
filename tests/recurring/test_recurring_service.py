"""Recurring schedules through the Python API on the session's real Redis and broker:
occurrences fire through a real executor, materialising twice stores once, updates
replace pending occurrences (also under concurrent writers), delete and pause cancel
them, resume catches up. Catch-up runs on an injected clock (no waiting for time)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scheduler.errors import InvalidEvent, RecurringConflict, RecurringNotFound
from scheduler.hot.store import HotStore
from scheduler.kafka import ensure_topics
from scheduler.recurring.model import RecurringDefinition, parse_recurring
from scheduler.recurring.occurrences import preview
from scheduler.recurring.schedules import RecurringSchedules
from scheduler.recurring.store import Mark, RecurringStore
from scheduler.recurring.timing import parse_occurrence_id
from scheduler.service import SchedulerService
from scheduler.settings import Settings
from tests.conftest import eventually


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[SchedulerService]:
    # Occurrences are materialised 30 s ahead (the transfer horizon).
    svc = SchedulerService(settings.model_copy(update={"transfer_horizon_seconds": 30}))
    await svc.start()
    yield svc
    await svc.stop()


def definition(rid: str, topic: str = "t", **fields: Any) -> dict[str, Any]:
    return {"recurring_id": rid, "event": {"topic": topic, "body": "tick"}} | fields


async def pending(hot: HotStore) -> list[str]:
    return sorted(m.decode() for m in await hot.redis.zrange(hot.keys.scheduled, 0, -1))


def later(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def test_occurrences_fire_through_a_real_executor(
    service: SchedulerService, settings: Settings, start_executor, read_topic, uid: str
) -> None:
    topic = f"ticks-{uid}"
    await ensure_topics(settings, [topic])
    reader = await read_topic(topic)
    d, created = await service.create_recurring(
        definition("every-second", topic, interval_seconds=1)
        | {"event": {"topic": topic, "body": {"n": 1}, "entity_type": "job", "priority": 3}}
    )
    assert created and (d.version, d.generation) == (1, 1)
    await start_executor()
    messages = await reader.read(3)
    ids = [dict(m.headers)["schedule_id"].decode() for m in messages[:3]]
    parsed = [parse_occurrence_id(sid) for sid in ids]
    assert [p[:2] for p in parsed if p] == [("every-second", 1)] * 3
    seconds = [p[2] for p in parsed if p]
    assert seconds == sorted(seconds) and seconds[1] - seconds[0] == 1
    assert messages[0].value == b'{"n":1}'
    assert dict(messages[0].headers)["entity_type"] == b"job"
    # Each fired at its time, never before.
    for m, s in zip(messages, seconds, strict=False):
        assert m.timestamp / 1000 >= s - 0.001


async def test_materialising_twice_stores_each_occurrence_once(
    service: SchedulerService, hot: HotStore
) -> None:
    await service.create_recurring(definition("twice", interval_seconds=5, start_at=later(10)))
    first = await pending(hot)
    assert 1 <= len(first) <= 6 and all(sid.startswith("twice@1@") for sid in first)
    again = await service.materialize_recurring()
    assert (again.definitions, again.materialized) == (1, 0)
    # A lost mark (materialised up to when?) makes the next run store the same ids again:
    # still one event each.
    await hot.redis.hset(hot.keys.recurring_marks, "twice", "1 0 0")
    await service.materialize_recurring()
    assert await pending(hot) == first


async def test_update_replaces_pending_occurrences_and_delete_cancels_them(
    service: SchedulerService, hot: HotStore
) -> None:
    start = later(10)
    await service.create_recurring(definition("swap", interval_seconds=5, start_at=start))
    old = await pending(hot)
    assert old and all(sid.startswith("swap@1@") for sid in old)
    d = await service.update_recurring(
        definition("swap", interval_seconds=10, start_at=start), expected_version=1
    )
    assert (d.version, d.generation) == (2, 2)
    new = await pending(hot)
    assert new and all(sid.startswith("swap@2@") for sid in new)
    assert len(new) < len(old)
    with pytest.raises(RecurringConflict):
        await service.update_recurring(
            definition("swap", interval_seconds=7, start_at=start), expected_version=1
        )
    unchanged = await service.update_recurring(
        definition("swap", interval_seconds=10, start_at=start)
    )
    assert unchanged.version == 2  # the same definition: nothing to change
    deleted = await service.delete_recurring("swap")
    assert deleted.version == 2
    assert await pending(hot) == []
    with pytest.raises(RecurringNotFound):
        await service.get_recurring("swap")
    with pytest.raises(RecurringNotFound):
        await service.delete_recurring("swap")


async def test_concurrent_updates_leave_exactly_the_last_versions_occurrences(
    service: SchedulerService, hot: HotStore
) -> None:
    start = later(10)
    await service.create_recurring(definition("busy", interval_seconds=3, start_at=start))

    async def write(i: int) -> None:
        await service.update_recurring(
            definition("busy", interval_seconds=3 + i % 4, start_at=start)
            | {"event": {"topic": "t", "body": f"v{i}"}}
        )

    await asyncio.gather(*(write(i) for i in range(20)))
    final = await service.get_recurring("busy")
    assert final.version == 21 and final.generation == 21
    ids = await pending(hot)
    # Exactly the final version's occurrences over the span its mark says is materialised.
    found = await RecurringStore(hot).get("busy")
    assert found is not None and found[1] is not None
    mark = found[1]
    assert mark.generation == 21 and mark.until >= mark.since + 25
    expected = [o.schedule_id for o in preview(final, mark.since, 50) if o.nominal <= mark.until]
    assert ids == sorted(expected) and ids
    events = await hot.events(ids)
    assert {ev.body for ev in events.values()} == {final.event.body.encode()}  # type: ignore[union-attr]


async def test_a_template_is_refused_as_the_event_would_be(service: SchedulerService) -> None:
    with pytest.raises(InvalidEvent) as exc:
        await service.create_recurring(
            definition("bad", interval_seconds=5)
            | {"event": {"topic": "t", "body": "x", "headers": {"attempt": "1"}}}
        )
    assert exc.value.field == "event.headers" and "reserved" in str(exc.value)
    with pytest.raises(InvalidEvent) as exc:
        await service.create_recurring(
            definition("bad", interval_seconds=5) | {"event": {"topic": "no spaces", "body": ""}}
        )
    assert exc.value.field == "event.topic"
    assert await service.list_recurring() == []


async def test_create_is_idempotent_and_refuses_another_definition(
    service: SchedulerService,
) -> None:
    d1, created = await service.create_recurring(definition("same", interval_seconds=60))
    d2, again = await service.create_recurring(definition("same", interval_seconds=60))
    assert created and not again and d1 == d2
    with pytest.raises(RecurringConflict):
        await service.create_recurring(definition("same", interval_seconds=61))
    assert [d.recurring_id for d in await service.list_recurring()] == ["same"]


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("policy", "caught_up"), [("skip", 0), ("latest", 1), ("all", 4)])
async def test_pause_cancels_and_resume_catches_up_by_policy(
    service: SchedulerService, hot: HotStore, policy: str, caught_up: int
) -> None:
    runtime = service.runtime
    assert runtime.router is not None
    clock = Clock()
    recurring = RecurringSchedules(
        RecurringStore(hot), runtime.router, runtime.limits, window_seconds=20, clock=clock
    )
    req = parse_recurring(
        definition("pausy", interval_seconds=10, catch_up=policy, catch_up_limit=4)
    )
    await recurring.create(req)
    assert len(await pending(hot)) == 2  # 20 s ahead, every 10 s
    paused = await recurring.pause("pausy")
    assert paused.paused and paused.generation == 2
    assert await pending(hot) == []
    clock.now += 100  # nine or ten occurrences missed while paused
    assert (await recurring.materialize_all()).materialized == 0  # paused: nothing
    resumed = await recurring.resume("pausy")
    assert not resumed.paused and resumed.generation == 3
    ids = await pending(hot)
    events = await hot.events(ids)
    due_now = [sid for sid in ids if abs(events[sid].scheduled_at - clock.now) < 0.001]
    ahead = [sid for sid in ids if events[sid].scheduled_at > clock.now + 0.001]
    assert len(due_now) == caught_up and len(ahead) == 2
    assert all(sid.startswith("pausy@3@") for sid in ids)
    if due_now:  # the latest missed ones
        latest = max(int(sid.rsplit("@", 1)[1]) for sid in due_now)
        assert clock.now - 10 < latest <= clock.now


async def test_the_periodic_run_materialises_as_time_goes_on(
    service: SchedulerService, hot: HotStore
) -> None:
    runtime = service.runtime
    assert runtime.router is not None
    clock = Clock()
    recurring = RecurringSchedules(
        RecurringStore(hot), runtime.router, runtime.limits, window_seconds=30, clock=clock
    )
    await recurring.create(parse_recurring(definition("roll", interval_seconds=10)))
    assert len(await pending(hot)) == 3
    clock.now += 25
    r = await recurring.materialize_all()
    assert (r.definitions, r.materialized) == (1, 2)
    assert len(await pending(hot)) == 5


async def test_preview_of_a_stored_and_an_unsaved_definition(service: SchedulerService) -> None:
    await service.create_recurring(
        definition("p", cron="0 9 * * *", timezone="Europe/Berlin", jitter_seconds=60)
    )
    got = await service.preview_recurring("p", 3)
    assert len(got) == 3 and all(o.schedule_id.startswith("p@1@") for o in got)
    assert all(o.nominal <= o.at < o.nominal + 60 for o in got)
    local = [datetime.fromtimestamp(o.nominal, UTC).astimezone() for o in got]
    assert all(t.minute == 0 for t in local)
    unsaved = await service.preview_recurring(definition("q", interval_seconds=60), 2)
    assert unsaved[1].nominal - unsaved[0].nominal == 60
    with pytest.raises(RecurringNotFound):
        await service.preview_recurring("nope", 1)


async def test_the_recurring_role_materialises_on_a_timer(settings: Settings) -> None:
    s = settings.model_copy(update={"recurring_interval": 0.2, "transfer_horizon_seconds": 30})
    service = SchedulerService(s)
    await service.start(roles=["recurring"])
    try:
        runtime = service.runtime
        assert runtime.hot is not None and runtime.recurring_loop is not None
        # Stored without materialising (as a definition restored into Redis would be).
        now = time.time()
        at = datetime.fromtimestamp(now, UTC)
        req = parse_recurring(definition("timer", interval_seconds=10))
        d = RecurringDefinition(
            **req.model_dump(), version=1, generation=1, created_at=at, updated_at=at
        )
        assert await RecurringStore(runtime.hot).put(d, 0, Mark.starting(1, int(now))) is None

        async def three() -> bool:
            return len(await pending(runtime.hot)) == 3  # type: ignore[arg-type]

        assert await eventually(three, timeout=10)
        assert service.runtime.running() == {"recurring": True}
    finally:
        await service.stop()


async def test_the_cold_tier_mirrors_definitions_and_restores_a_lost_redis(
    hybrid_settings: Settings, hot: HotStore, cold_db
) -> None:
    service = SchedulerService(hybrid_settings)
    await service.start()
    try:
        kept, _ = await service.create_recurring(definition("kept", interval_seconds=600))
        await service.update_recurring(definition("kept", interval_seconds=300))
        await service.create_recurring(definition("gone", interval_seconds=600))
        await service.delete_recurring("gone")
        mirrored = await cold_db.query(
            "SELECT recurring_id, is_deleted FROM recurring_schedules FINAL ORDER BY recurring_id"
        )
        assert [(r["recurring_id"], r["is_deleted"]) for r in mirrored] == [("kept", 0)]
        before = await pending(hot)
        assert len(before) == 12 and all(sid.startswith("kept@2@") for sid in before)

        # Redis loses the definitions (the events stay: the hot tier's rebuild's business).
        k = hot.keys
        await hot.redis.delete(k.recurring, k.recurring_versions, k.recurring_marks)
        assert await service.list_recurring() == []
        restored = await service.restore_recurring()
        assert (restored.restored, restored.kept) == (1, 0)
        back = await service.get_recurring("kept")
        assert (back.version, back.generation, back.interval_seconds) == (2, 2, 300)
        assert back.event == kept.event
        assert await pending(hot) == before  # the same occurrences: none doubled
        again = await service.restore_recurring()
        assert (again.restored, again.kept) == (0, 1)  # Redis has it: left as it is
    finally:
        await service.stop()


async def test_restore_needs_the_cold_tier(service: SchedulerService) -> None:
    from scheduler.errors import ConfigError

    with pytest.raises(ConfigError, match="cold tier"):
        await service.restore_recurring()


async def test_a_definition_created_again_after_delete_gets_ids_never_used(
    hybrid_settings: Settings, hot: HotStore
) -> None:
    # The cold tier remembers cancelled ids for good: a deleted definition's occurrences
    # were cancelled, so the new one's must not reuse their schedule_ids.
    service = SchedulerService(hybrid_settings)
    await service.start()
    try:
        await service.create_recurring(definition("again", interval_seconds=600))
        await service.update_recurring(definition("again", interval_seconds=900))
        old = await pending(hot)
        await service.delete_recurring("again")
        d, created = await service.create_recurring(definition("again", interval_seconds=600))
        assert created and d.version == 1 and d.generation == 3
        new = await pending(hot)
        assert new and not set(new) & set(old)
        assert all(sid.startswith("again@3@") for sid in new)
        status = await service.get_status(new[0])
        assert status is not None and status.status == "scheduled"
    finally:
        await service.stop()


async def test_an_unreadable_definition_does_not_stop_the_others(
    service: SchedulerService, hot: HotStore
) -> None:
    await service.create_recurring(definition("fine", interval_seconds=600))
    await hot.redis.hset(hot.keys.recurring, "broken", b"{not json")
    assert [d.recurring_id for d in await service.list_recurring()] == ["fine"]
    result = await service.materialize_recurring()
    assert (result.definitions, result.failed) == (1, 0)


async def test_concurrent_writers_in_two_services_with_pauses_and_resumes(
    settings: Settings, hot: HotStore
) -> None:
    # Two services (two Redis clients, as two API processes) change one definition at
    # once, updates mixed with pauses and resumes: the end state is the last version's,
    # with exactly its occurrences.
    s = settings.model_copy(update={"transfer_horizon_seconds": 30})
    services = [SchedulerService(s), SchedulerService(s)]
    for svc in services:
        await svc.start()
    try:
        start = later(10)
        await services[0].create_recurring(definition("shared", interval_seconds=4, start_at=start))

        async def write(i: int) -> None:
            svc = services[i % 2]
            if i % 5 == 3:
                await svc.pause_recurring("shared")
            elif i % 5 == 4:
                await svc.resume_recurring("shared")
            else:
                await svc.update_recurring(
                    definition("shared", interval_seconds=3 + i % 3, start_at=start)
                    | {"event": {"topic": "t", "body": f"v{i}"}}
                )

        await asyncio.gather(*(write(i) for i in range(30)))
        final = await services[1].get_recurring("shared")
        found = await RecurringStore(hot).get("shared")
        assert found is not None and found[1] is not None
        mark = found[1]
        assert mark.generation == final.generation
        ids = await pending(hot)
        if final.paused:
            assert ids == []
        else:
            expected = [o.schedule_id for o in preview(final, mark.since, 50)]
            assert ids == sorted(
                sid for sid in expected if int(sid.rsplit("@", 1)[1]) <= mark.until
            )
            assert ids
            events = await hot.events(ids)
            assert {ev.body for ev in events.values()} == {final.event.body.encode()}  # type: ignore[union-attr]
    finally:
        for svc in services:
            await svc.stop()
