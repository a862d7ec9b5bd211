"""GET /api/v1/schedules: filters, keyset paging under inserts, counts, read-your-writes,
Redis's live state, the Redis-only listing, and bad parameters; on the real services."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from scheduler.hot.store import HotStore
from scheduler.settings import Settings
from tests.api.conftest import MakeClient
from tests.conftest import eventually

URL = "/api/v1/schedules"
DAY = 86400


def _event(sid: str, delay: float, **kw: Any) -> dict[str, Any]:
    return {"topic": "t.a", "body": sid, "delay_seconds": delay, "schedule_id": sid, **kw}


async def _post(api: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 500):
        r = await api.post(f"{URL}/batch", json={"events": events[start : start + 500]})
        assert r.status_code == 200, r.text
        assert r.json()["rejected"] == 0, r.text


async def _list(api: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    r = await api.get(URL, params=params)
    assert r.status_code == 200, r.text
    page: dict[str, Any] = r.json()
    return page


async def _ids(api: httpx.AsyncClient, **params: Any) -> list[str]:
    """Every schedule_id the listing pages through, in order."""
    ids: list[str] = []
    cursor = None
    while True:
        page = await _list(api, **params, **({"cursor": cursor} if cursor else {}))
        ids += [item["schedule_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


async def _journaled(api: httpx.AsyncClient, n: int) -> None:
    """Until this process has written every journal row (n schedules in all)."""

    async def written() -> bool:
        stats = (await api.get(f"{URL}/monitoring/stats")).json()
        page = await _list(api, limit=1)
        return stats["journal_buffered"] == 0 and sum(page["counts"].values()) == n

    assert await eventually(written, timeout=20)


async def test_each_filter_with_the_cold_tier(hybrid_api: httpx.AsyncClient) -> None:
    await _post(
        hybrid_api,
        [
            _event("hot-a", 600, entity_type="user", action="remind", priority=5),
            _event("hot-b", 700, topic="t.b", entity_type="order", action="remind"),
            _event("cold-a", 3 * DAY, entity_type="user", action="expire"),
            _event("cold-b", 4 * DAY, topic="t.b", entity_type="order", action="expire"),
            _event("gone", 800),
        ],
    )
    assert (await hybrid_api.delete(f"{URL}/gone")).status_code == 200
    await _journaled(hybrid_api, 5)

    assert await _ids(hybrid_api) == ["hot-a", "hot-b", "gone", "cold-a", "cold-b"]
    assert await _ids(hybrid_api, status="pending") == ["cold-a", "cold-b"]
    assert await _ids(hybrid_api, status="scheduled") == ["hot-a", "hot-b"]
    assert await _ids(hybrid_api, status=["cancelled", "pending"]) == ["gone", "cold-a", "cold-b"]
    assert await _ids(hybrid_api, tier="cold") == ["cold-a", "cold-b"]
    assert await _ids(hybrid_api, tier="hot") == ["hot-a", "hot-b", "gone"]
    assert await _ids(hybrid_api, topic="t.b") == ["hot-b", "cold-b"]
    assert await _ids(hybrid_api, entity_type="user") == ["hot-a", "cold-a"]
    assert await _ids(hybrid_api, action="expire") == ["cold-a", "cold-b"]
    now = datetime.now(UTC)
    window = {
        "from": (now + timedelta(hours=1)).isoformat(),
        "to": (now + timedelta(days=3, hours=1)).isoformat(),
    }
    assert await _ids(hybrid_api, **window) == ["cold-a"]
    assert await _ids(hybrid_api, **{"to": (now + timedelta(seconds=650)).isoformat()}) == ["hot-a"]
    assert await _ids(hybrid_api, topic="t.b", status="pending") == ["cold-b"]

    page = await _list(hybrid_api, entity_type="user")
    item = page["items"][0]
    assert item["schedule_id"] == "hot-a"
    assert (item["status"], item["tier"], item["hot_state"]) == ("scheduled", "hot", "pending")
    assert (item["topic"], item["entity_type"], item["action"], item["priority"]) == (
        "t.a", "user", "remind", 5,
    )  # fmt: skip
    assert item["attempts"] == 0 and item["created_at"] and item["updated_at"]
    cold = page["items"][1]
    assert (cold["status"], cold["tier"], cold["hot_state"]) == ("pending", "cold", None)
    # Counts: the filters but the status.
    assert page["counts"] == {
        "pending": 1, "processing": 0, "scheduled": 1, "executed": 0, "skipped": 0,
        "error": 0, "cancelled": 0,
    }  # fmt: skip
    assert page["counts_exact"] is True and page["source"] == "clickhouse"
    everything = (await _list(hybrid_api, status="pending"))["counts"]
    assert (everything["pending"], everything["scheduled"], everything["cancelled"]) == (2, 2, 1)


async def test_paging_while_events_arrive_repeats_and_skips_nothing(
    hybrid_api: httpx.AsyncClient,
) -> None:
    # 300 events, some sharing one time (a batch), in both tiers.
    at = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    first = [_event(f"e{i:03d}", 100 + i * 7) for i in range(150)]
    first += [
        {"topic": "t.a", "body": "x", "scheduled_at": at.isoformat(), "schedule_id": f"same{i:03d}"}
        for i in range(100)
    ]
    first += [_event(f"c{i:03d}", 2 * DAY + i) for i in range(50)]
    await _post(hybrid_api, first)
    await _journaled(hybrid_api, len(first))
    expected = await _ids(hybrid_api, limit=1000)
    assert sorted(expected) == sorted(e["schedule_id"] for e in first)

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await _list(hybrid_api, limit=23, **({"cursor": cursor} if cursor else {}))
        seen += [item["schedule_id"] for item in page["items"]]
        # New events between pages, before and after the cursor and at the batch's time.
        await _post(
            hybrid_api,
            [
                _event(f"new{pages}-early", 1),
                _event(f"new{pages}-late", 3 * DAY),
                {"topic": "t.a", "body": "y", "scheduled_at": at.isoformat(),
                 "schedule_id": f"same-new{pages}"},
            ],
        )  # fmt: skip
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages >= len(first) // 23
    assert len(seen) == len(set(seen)), "a schedule was listed twice"
    old = [sid for sid in seen if sid in set(expected)]
    assert old == expected, "a page skipped or reordered schedules that were there"


async def test_an_event_scheduled_a_moment_ago_is_listed_before_the_journal_writes_it(
    make_client: MakeClient, hybrid_settings: Settings
) -> None:
    s = hybrid_settings.model_copy(update={"analytics_flush_interval": 300.0})
    api = await make_client(s)
    await _post(api, [_event("fresh", 60, entity_type="user"), _event("fresh-cold", 2 * DAY)])
    page = await _list(api)
    assert [i["schedule_id"] for i in page["items"]] == ["fresh", "fresh-cold"]
    assert [i["status"] for i in page["items"]] == ["scheduled", "pending"]
    assert page["items"][0]["hot_state"] == "pending"
    assert page["counts"]["scheduled"] == 1 and page["counts"]["pending"] == 1
    assert page["counts_exact"] is True  # ClickHouse has neither: counted from the journal
    assert await _ids(api, entity_type="user") == ["fresh"]
    assert await _ids(api, status="pending") == ["fresh-cold"]
    # A cancel, also unwritten, reads at once.
    assert (await api.delete(f"{URL}/fresh")).status_code == 200
    assert await _ids(api, status="scheduled") == []
    assert await _ids(api, status="cancelled") == ["fresh"]
    counts = (await _list(api))["counts"]
    assert (counts["scheduled"], counts["cancelled"], counts["pending"]) == (0, 1, 1)


async def test_a_claimed_event_reads_in_flight_with_its_attempts(
    hybrid_api: httpx.AsyncClient, hot: HotStore
) -> None:
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    r = await hybrid_api.post(URL, json={"topic": "t.a", "body": "b", "scheduled_at": past,
                                         "schedule_id": "claimed"})  # fmt: skip
    assert r.status_code == 201
    batch = await hot.claim(10, 60)
    assert [c.event.schedule_id for c in batch.items] == ["claimed"]
    (item,) = (await _list(hybrid_api))["items"]
    assert (item["status"], item["hot_state"]) == ("scheduled", "in_flight")


async def test_the_redis_only_listing(api: httpx.AsyncClient, hot: HotStore) -> None:
    events = [_event(f"r{i:03d}", 60 + i, topic="t.a" if i % 3 else "t.b") for i in range(120)]
    await _post(api, events)
    page = await _list(api, limit=10)
    assert page["source"] == "redis" and page["counts_exact"] is True
    assert page["counts"]["scheduled"] == 120
    assert await _ids(api, limit=7) == [e["schedule_id"] for e in events]
    topic_b = [e["schedule_id"] for e in events if e["topic"] == "t.b"]
    assert await _ids(api, topic="t.b", limit=4) == topic_b
    b = await _list(api, topic="t.b")
    assert (b["counts"]["scheduled"], b["counts_exact"]) == (len(topic_b), True)
    assert await _ids(api, status="pending") == []  # nothing waits in ClickHouse
    # The counts leave the status filter aside, as with the cold tier.
    assert (await _list(api, status="pending"))["counts"]["scheduled"] == 120
    assert (await _list(api, tier="cold"))["counts"]["scheduled"] == 0
    assert await _ids(api, tier="cold") == []
    now = datetime.now(UTC)
    window = {"from": (now + timedelta(seconds=100)).isoformat(),
              "to": (now + timedelta(seconds=110)).isoformat()}  # fmt: skip
    inside = await _ids(api, **window)
    assert 8 <= len(inside) <= 11 and inside == sorted(inside)
    assert (await _list(api, **window))["counts"]["scheduled"] == len(inside)
    # A claimed event is listed, in flight, once.
    past = (now - timedelta(seconds=1)).isoformat()
    r = await api.post(URL, json={"topic": "t.c", "body": "b", "scheduled_at": past,
                                  "schedule_id": "claimed"})  # fmt: skip
    assert r.status_code == 201
    assert len((await hot.claim(10, 60)).items) == 1
    (item,) = (await _list(api, topic="t.c"))["items"]
    assert (item["schedule_id"], item["hot_state"], item["status"]) == (
        "claimed", "in_flight", "scheduled",
    )  # fmt: skip
    assert (await _ids(api, limit=1000))[0] == "claimed"
    assert (await _list(api))["counts"]["scheduled"] == 121


async def test_redis_only_paging_while_events_arrive(api: httpx.AsyncClient) -> None:
    first = [_event(f"p{i:03d}", 60 + i // 4) for i in range(200)]  # 4 per time
    await _post(api, first)
    seen: list[str] = []
    cursor = None
    n = 0
    while True:
        page = await _list(api, limit=9, **({"cursor": cursor} if cursor else {}))
        seen += [item["schedule_id"] for item in page["items"]]
        await _post(api, [_event(f"q{n}-early", 30), _event(f"q{n}-late", 500)])
        n += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    ids = {e["schedule_id"] for e in first}
    assert [sid for sid in seen if sid in ids] == [e["schedule_id"] for e in first]


async def test_bad_parameters_are_named(
    api: httpx.AsyncClient, hybrid_api: httpx.AsyncClient
) -> None:
    for client in (api, hybrid_api):
        for params, field in (
            ({"cursor": "nonsense"}, "cursor"),
            ({"cursor": "12.bad id"}, "cursor"),
            ({"limit": 0}, "limit"),
            ({"limit": 1001}, "limit"),
            ({"limit": "many"}, "limit"),
            ({"status": "done"}, "status.0"),
            ({"tier": "warm"}, "tier"),
            ({"from": "yesterday"}, "from"),
            ({"from": "2030-01-02T00:00:00Z", "to": "2030-01-01T00:00:00Z"}, "from"),
            ({"from": "1900-01-01T00:00:00Z"}, "from"),
            ({"counts": "maybe"}, "counts"),
        ):
            r = await client.get(URL, params=params)
            assert r.status_code == 422, (params, r.text)
            assert r.json()["field"] == field, (params, r.text)
        # A cursor past everything, odd filters: an empty page, not an error.
        page = await _list(client, cursor="9999999999999999.zzz", topic="\x00' OR 1=1 --")
        assert page["items"] == [] and page["next_cursor"] is None


async def test_the_python_api(make_client: MakeClient, hybrid_settings: Settings) -> None:
    from scheduler.errors import InvalidEvent
    from scheduler.service import SchedulerService

    service = SchedulerService(hybrid_settings)
    await service.start()
    try:
        for i in range(5):
            await service.schedule_event(
                "t.py", f"b{i}", delay_seconds=60 + i, schedule_id=f"py{i}"
            )
        page = await service.list_schedules(topic="t.py", limit=2)
        assert [i.schedule_id for i in page.items] == ["py0", "py1"]
        page = await service.list_schedules(topic="t.py", limit=2, cursor=page.next_cursor)
        assert [i.schedule_id for i in page.items] == ["py2", "py3"]
        assert page.counts is not None and page.counts["scheduled"] == 5
        for kwargs, field in (
            ({"status": "done"}, "status"),
            ({"limit": 0}, "limit"),
            ({"cursor": "x"}, "cursor"),
            ({"scheduled_from": datetime(2030, 1, 1)}, "scheduled_from"),
        ):
            try:
                await service.list_schedules(**kwargs)  # type: ignore[arg-type]
            except InvalidEvent as exc:
                assert exc.field == field
            else:
                raise AssertionError(f"{kwargs} was accepted")
    finally:
        await service.stop()


async def test_rows_the_journal_writes_during_the_query_are_not_lost(
    hybrid_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal's write landing between the ClickHouse query and the read of the
    buffer: each row is then in ClickHouse's answer, the buffer, or both."""
    from scheduler.service import SchedulerService

    s = hybrid_settings.model_copy(update={"analytics_flush_interval": 300.0})
    service = SchedulerService(s)
    await service.start()
    try:
        for i in range(3):
            await service.schedule_event("t", "b", delay_seconds=60 + i, schedule_id=f"w{i}")
        cold, journal = service.runtime.cold, service.runtime.journal
        assert cold is not None and journal is not None
        query = cold.listing

        async def query_then_flush(*args: Any, **kwargs: Any) -> Any:
            rows = await query(*args, **kwargs)
            await journal.flush()  # real rows into the real ClickHouse, mid-listing
            return rows

        monkeypatch.setattr(cold, "listing", query_then_flush)
        page = await service.list_schedules()
        assert [i.schedule_id for i in page.items] == ["w0", "w1", "w2"]
    finally:
        await service.stop()


async def test_events_waiting_for_their_topic_s_rate_limit_are_listed_throttled(
    api: httpx.AsyncClient, hybrid_api: httpx.AsyncClient, hot: HotStore
) -> None:
    """Due events over a rate limit wait in their topic's throttled set: still pending,
    listed with hot_state throttled (and counted), in either mode."""
    for client, prefix in ((api, "redis"), (hybrid_api, "cold")):
        topic = f"limited-{prefix}"
        r = await client.put(
            f"{URL}/monitoring/rate-limits/{topic}", json={"events_per_second": 1, "burst": 1}
        )
        assert r.status_code == 200, r.text
        past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        await _post(
            client,
            [{"topic": topic, "body": "b", "scheduled_at": past, "schedule_id": f"{prefix}{i}"}
             for i in range(5)],
        )  # fmt: skip
        assert len((await hot.claim(10, 60)).items) == 1
        page = await _list(client, topic=topic)
        states = sorted(i["hot_state"] for i in page["items"])
        assert states == ["in_flight"] + ["throttled"] * 4, page
        assert page["counts"]["scheduled"] == 5


async def test_redis_only_pages_stop_at_their_budget_and_page_on(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filter read from payloads examines at most SCAN_BUDGET events a page: a page may
    be short or empty, with a cursor; paging on finds every match; the counts say they
    are not exact."""
    from scheduler import listing

    monkeypatch.setattr(listing, "SCAN_BUDGET", 40)
    monkeypatch.setattr(listing, "CHUNK", 15)
    events = [_event(f"b{i:03d}", 60 + i, topic="rare" if i % 50 == 49 else "common")
              for i in range(150)]  # fmt: skip
    await _post(api, events)
    first = await _list(api, topic="rare")
    assert first["items"] == [] and first["next_cursor"] is not None
    assert first["examined"] == 40
    assert first["counts"]["scheduled"] == 0 and first["counts_exact"] is False
    assert await _ids(api, topic="rare") == ["b049", "b099", "b149"]
    everything = await _list(api, limit=5)
    assert everything["counts"]["scheduled"] == 150 and everything["counts_exact"] is True


async def test_counts_move_written_schedules_to_their_unwritten_status(
    hybrid_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counts are ClickHouse's with this process's unwritten changes applied, and exact:
    the journal does not write while they are read (a write asked for meanwhile waits)."""
    from scheduler.service import SchedulerService

    s = hybrid_settings.model_copy(update={"analytics_flush_interval": 300.0})
    service = SchedulerService(s)
    await service.start()
    try:
        for i in range(3):
            await service.schedule_event("t", "b", delay_seconds=60 + i, schedule_id=f"c{i}")
        cold, journal = service.runtime.cold, service.runtime.journal
        assert cold is not None and journal is not None
        await journal.flush()  # ClickHouse: three scheduled
        assert (await service.cancel_event("c1")).value == "pending"  # unwritten
        page = await service.list_schedules()
        assert page.counts is not None and page.counts_exact
        assert (page.counts["scheduled"], page.counts["cancelled"]) == (2, 1)
        assert (await service.list_schedules(status="cancelled")).counts == page.counts
        hot = await service.list_schedules(tier="hot", topic="t")
        assert hot.counts == page.counts

        await service.schedule_event("t", "b", delay_seconds=90, schedule_id="c3")
        counting = cold.listing_counts
        writes: list[asyncio.Task[None]] = []

        async def count_with_a_write_asked_for(*args: Any, **kwargs: Any) -> Any:
            writes.append(asyncio.create_task(journal.flush()))
            found = await counting(*args, **kwargs)
            assert not writes[0].done()  # it waits for the counts
            return found

        monkeypatch.setattr(cold, "listing_counts", count_with_a_write_asked_for)
        during = await service.list_schedules()
        await writes[0]
        assert journal.pending() == 0
        assert during.counts_exact and during.counts is not None
        assert (during.counts["scheduled"], during.counts["cancelled"]) == (3, 1)
        monkeypatch.undo()
        after = await service.list_schedules()
        assert after.counts == during.counts and after.counts_exact
    finally:
        await service.stop()


async def test_a_rescheduled_event_is_listed_at_its_new_time(
    api: httpx.AsyncClient, hybrid_api: httpx.AsyncClient
) -> None:
    """With the cold tier its old time stays, cancelled with why; Redis alone has only
    the new time."""
    for client, sid in ((hybrid_api, "moved-c"), (api, "moved-r")):
        await _post(client, [_event(sid, 600, topic=f"t.{sid}")])
        r = await client.patch(f"{URL}/{sid}", json={"delay_seconds": 900})
        assert r.status_code == 200, r.text
        page = await _list(client, topic=f"t.{sid}")
        live = [i for i in page["items"] if i["status"] == "scheduled"]
        assert [i["schedule_id"] for i in live] == [sid]
        assert page["counts"]["scheduled"] == 1
        old = [i for i in page["items"] if i["status"] == "cancelled"]
        if client is hybrid_api:
            (retired,) = old
            assert retired["error"].startswith("rescheduled to ")
            assert retired["scheduled_at"] < live[0]["scheduled_at"]
        else:
            assert old == []
