"""Dead letters listed and replayed through SchedulerService, on real Redis, Kafka and
ClickHouse: an event that exhausts its retries is dead-lettered by a real executor,
listed from the topic and the cold tier, replayed once however often it is asked, and
fires; a dry run changes nothing; an invalid envelope is listed and reported as not
replayable; filters and bounds."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from conftest import eventually

from scheduler.deadletters.model import Outcome, Reason, Source, Stage
from scheduler.hot.store import HotStore
from scheduler.kafka import ensure_topics
from scheduler.service import SchedulerService
from scheduler.settings import Settings
from tests.deadletters.helpers import MAX_ATTEMPTS, doomed, exhaust


@pytest.fixture
async def start() -> AsyncIterator[object]:
    """`await start(settings, roles)`: a started service, stopped after the test."""
    started: list[SchedulerService] = []

    async def make(settings: Settings, roles: list[str]) -> SchedulerService:
        svc = SchedulerService(settings)
        await svc.start(roles)
        started.append(svc)
        return svc

    yield make
    for svc in started:
        await svc.stop()


async def test_exhausted_event_is_listed_replayed_once_and_fires(
    start, hybrid_settings: Settings, hot: HotStore, read_topic, uid: str
) -> None:
    topic = f"target-{uid}"
    s = hybrid_settings.model_copy(update={"max_attempts": MAX_ATTEMPTS})
    await ensure_topics(s, [topic, s.dead_letter_topic])
    target = await read_topic(topic)
    await exhaust(hot, doomed("doomed-1", topic, priority=7, max_delay_seconds=600))
    service = await start(s, ["executor"])  # dead-letters it, then fires the replay

    async def listed() -> object:
        page = await service.list_dead_letters()
        return page.items and set(page.items[0].sources) == {Source.TOPIC, Source.COLD} and page

    page = await eventually(listed, timeout=20)
    assert page, "the dead letter was not listed from both the topic and the cold tier"
    (item,) = page.items
    assert item.id.startswith("c:") and item.id.endswith(":doomed-1")
    assert (item.stage, item.reason) == (Stage.PUBLISH, Reason.RETRIES_EXHAUSTED)
    assert (item.topic, item.schedule_id, item.replayable) == (topic, "doomed-1", True)
    assert item.partition is not None and item.offset is not None
    assert item.replayed_as is None

    dry = await service.replay_dead_letters([item.id], dry_run=True)
    assert (dry.would_replay, dry.replayed, dry.items[0].outcome) == (1, 0, Outcome.WOULD_REPLAY)
    assert dry.items[0].schedule_id == "doomed-1"
    assert (await hot.counts())["pending"] == 0  # the dry run scheduled nothing
    assert (await service.list_dead_letters()).items[0].replayed_as is None

    done = await service.replay_dead_letters([item.id])
    assert (done.replayed, done.items[0].outcome) == (1, Outcome.REPLAYED)
    (fired,) = await target.read(1, timeout=20)
    headers = dict(fired.headers)
    assert fired.value == b"body-doomed-1"
    assert (headers["schedule_id"], headers["tenant"]) == (b"doomed-1", b"acme")

    # Again, by its id, by its topic message's id, and by filter: scheduled once.
    for again in (
        await service.replay_dead_letters([item.id]),
        await service.replay_dead_letters([f"t:{item.partition}:{item.offset}"]),
        await service.replay_dead_letters(reason="retries_exhausted"),
    ):
        assert again.replayed == 0
        assert [(i.outcome, i.schedule_id) for i in again.items] == [
            (Outcome.ALREADY_REPLAYED, "doomed-1")
        ]
    assert len(await target.settle(quiet=1.0)) == 1
    assert (await service.list_dead_letters()).items[0].replayed_as == "doomed-1"

    # The replay kept what only the cold tier knew: priority and max_delay_seconds.
    async def executed() -> object:
        status = await service.get_status("doomed-1")
        return status if status is not None and status.status == "executed" else None

    status = await eventually(executed)
    assert status is not None and status.priority == 7


async def test_replay_as_new_events_and_from_the_topic_alone(
    start, settings: Settings, hot: HotStore, read_topic, uid: str
) -> None:
    """Without the cold tier, from the topic alone; new ids, the same on every replay."""
    topic = f"target-{uid}"
    s = settings.model_copy(update={"max_attempts": MAX_ATTEMPTS})
    await ensure_topics(s, [topic, s.dead_letter_topic])
    target = await read_topic(topic)
    await exhaust(hot, doomed("a", topic), doomed("b", topic))
    svc = await start(s, ["executor"])
    page = await eventually(
        lambda: _with(svc.list_dead_letters(), lambda p: p.count == 2), timeout=20
    )
    assert page and {i.schedule_id for i in page.items} == {"a", "b"}
    assert all(i.id.startswith("t:") and i.sources == [Source.TOPIC] for i in page.items)
    assert page.cold_tier is False

    first = await svc.replay_dead_letters(topic=topic, mode="new_id", limit=10)
    assert first.replayed == 2
    new_ids = {i.schedule_id for i in first.items}
    assert all(n and n.startswith("r-") for n in new_ids)
    fired = await target.read(2, timeout=20)
    assert {dict(m.headers)["schedule_id"].decode() for m in fired} == new_ids
    again = await svc.replay_dead_letters(topic=topic, mode="new_id", limit=10)
    assert {(i.outcome, i.schedule_id) for i in again.items} == {
        (Outcome.ALREADY_REPLAYED, n) for n in new_ids
    }
    assert len(await target.settle(quiet=1.0)) == 2


async def _with(coro: object, check: object) -> object:
    value = await coro  # type: ignore[misc]
    return value if check(value) else None  # type: ignore[operator]


async def test_invalid_envelope_is_listed_and_reported_not_replayable(
    start, settings: Settings, producer, uid: str
) -> None:
    await ensure_topics(settings, [settings.delayed_topic, settings.dead_letter_topic])
    svc = await start(settings, ["consumer"])
    await producer.send_and_wait(settings.delayed_topic, b'{"topic": "t", "body": "x"}')
    good = {"topic": f"t-{uid}", "body": "x", "delay_seconds": 3600 * 48}
    await producer.send_and_wait(settings.delayed_topic, json.dumps(good).encode())
    page = await eventually(
        lambda: _with(svc.list_dead_letters(), lambda p: p.count == 2), timeout=20
    )
    assert page, "both envelopes should be dead-lettered"
    by_reason = {i.reason: i for i in page.items}
    invalid, beyond = by_reason[Reason.INVALID], by_reason[Reason.BEYOND_HORIZON]
    assert invalid.stage is Stage.INGEST and invalid.replayable is False
    assert "delay_seconds" in (invalid.not_replayable_reason or "")
    assert beyond.replayable is True and beyond.topic == f"t-{uid}"

    result = await svc.replay_dead_letters([invalid.id, beyond.id, "t:0:999999", "nope"])
    outcomes = {i.id: (i.outcome, i.detail or "") for i in result.items}
    assert outcomes[invalid.id][0] is Outcome.NOT_REPLAYABLE
    assert "invalid envelope" in outcomes[invalid.id][1]
    # Still too far ahead without the cold tier: said so, nothing stored.
    assert outcomes[beyond.id][0] is Outcome.NOT_REPLAYABLE
    assert "cold tier is disabled" in outcomes[beyond.id][1]
    assert outcomes["t:0:999999"][0] is Outcome.NOT_FOUND
    assert outcomes["nope"][0] is Outcome.NOT_FOUND
    assert (result.selected, result.replayed, result.skipped) == (4, 0, 4)

    # Filters and bounds.
    assert [i.id for i in (await svc.list_dead_letters(reason="invalid")).items] == [invalid.id]
    assert [i.id for i in (await svc.list_dead_letters(topic=f"t-{uid}")).items] == [beyond.id]
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert (await svc.list_dead_letters(since=later)).count == 0
    earlier = datetime.now(UTC) - timedelta(minutes=5)
    assert (await svc.list_dead_letters(until=earlier)).count == 0
    one = await svc.list_dead_letters(limit=1)
    assert (one.count, one.complete) == (1, False)
    assert (await svc.list_dead_letters(source="cold")).count == 0  # no cold tier here


async def test_concurrent_replays_of_one_dead_letter_schedule_it_once(
    start, settings: Settings, hot: HotStore, read_topic, uid: str
) -> None:
    """Two processes' services, five replays of the same dead letter at once (as new
    events, where the id alone would not stop a second copy once the first fired)."""
    topic = f"target-{uid}"
    s = settings.model_copy(update={"max_attempts": MAX_ATTEMPTS})
    await ensure_topics(s, [topic, s.dead_letter_topic])
    target = await read_topic(topic)
    await exhaust(hot, doomed("race", topic))
    firing = await start(s, ["executor"])
    other = await start(s, [])
    page = await eventually(lambda: _with(firing.list_dead_letters(), lambda p: p.count == 1))
    assert page
    (item,) = page.items
    results = await asyncio.gather(
        *(
            svc.replay_dead_letters([item.id], mode="new_id")
            for svc in (firing, other, firing, other, firing)
        )
    )
    assert sum(r.replayed for r in results) == 1
    outcomes = sorted(r.items[0].outcome for r in results)
    assert outcomes == [Outcome.ALREADY_REPLAYED] * 4 + [Outcome.REPLAYED]
    (fired,) = await target.read(1, timeout=20)
    assert len(await target.settle(quiet=1.0)) == 1
    assert dict(fired.headers)["schedule_id"].decode().startswith("r-")


async def test_the_topic_read_and_the_answers_are_bounded(
    start, settings: Settings, producer, uid: str
) -> None:
    """Five refused envelopes on one partition of the dead-letter topic (as ingest writes
    them): a listing reads at most SCHEDULES_DEAD_LETTER_SCAN_LIMIT of the newest and
    says it is not complete; `limit` bounds a listing and a replay by filter."""
    await ensure_topics(settings, [settings.dead_letter_topic])
    for n in range(5):
        await producer.send_and_wait(
            settings.dead_letter_topic,
            f'{{"n": {n}}}'.encode(),
            key=b"same-partition",
            headers=[("x-dlq-stage", b"ingest"), ("x-dlq-reason", b"invalid")],
        )
    svc = await start(settings, [])
    page = await eventually(lambda: _with(svc.list_dead_letters(), lambda p: p.count == 5))
    assert page and page.complete and page.scanned == 5
    newest = page.items[0]
    assert newest.offset == max(i.offset or 0 for i in page.items)

    narrow = await start(settings.model_copy(update={"dead_letter_scan_limit": 1}), [])
    cut = await narrow.list_dead_letters()
    assert cut.complete is False and 1 <= cut.count <= 2  # the newest (one batch of slack)
    assert newest.id in {i.id for i in cut.items}

    three = await svc.list_dead_letters(limit=3)
    assert (three.count, three.complete) == (3, False)
    assert [i.id for i in three.items] == [i.id for i in page.items[:3]]
    dry = await svc.replay_dead_letters(reason="invalid", limit=2, dry_run=True)
    assert (dry.selected, dry.would_replay, dry.skipped) == (2, 0, 2)
    assert {i.outcome for i in dry.items} == {Outcome.NOT_REPLAYABLE}
