"""What the executor decides for each claimed event once the broker answered: ack, retry
with backoff, dead-letter, skip, or hand back untouched during an outage (Executor._fire
and _classify). Redis and the broker are stand-ins; the clock is injected."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
    UnknownError,
)
from prometheus_client import REGISTRY

from scheduler.cold.journal import outcome_rows, result_status
from scheduler.cold.store import RESULT_COLUMNS
from scheduler.hot import executor as executor_module
from scheduler.hot.breaker import State
from scheduler.hot.executor import Executor
from scheduler.hot.outcome import Outcome, OutcomeStatus
from scheduler.hot.produce import Message, Result
from scheduler.hot.store import Claimed, ClaimedBatch, Release
from unit.fakes import FakeClock, executor_config, make_event

DLQ = "dlq"
NOW = 1_000.0
ACK_TIME = 1_000.25


class FakeStore:
    """Records what the executor acks and releases (the real ones are Lua scripts)."""

    def __init__(self) -> None:
        self.acked: list[str] = []
        self.released: list[Release] = []
        self.claimable: list[Claimed] = []
        self.redis_now = NOW  # Redis's clock, as its claims report it

    async def claim(self, limit: int, lease_seconds: float, rate_limits: object) -> ClaimedBatch:
        items, self.claimable = self.claimable, []
        return ClaimedBatch(7, items, self.redis_now)

    async def ack(self, token: int, ids: list[str]) -> int:
        assert token == 7
        self.acked += ids
        return len(ids)

    async def release(self, token: int, releases: list[Release]) -> int:
        assert token == 7
        self.released += releases
        return len(releases)


class FakeBatches:
    """BatchProducer's interface: one result per message, chosen by `answer`."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.stamps: list[float | None] = []  # each message's record timestamp
        self.answer: Callable[[Message], Result] = lambda m: ACK_TIME

    async def produce(
        self, messages: list[Message], within: float, stamp: float | None = None
    ) -> list[Result]:
        self.sent += messages
        self.stamps += [stamp] * len(messages)
        return [self.answer(m) for m in messages]


class FakeClient:
    """The producer's client, as the liveness probe sees it: answering or not."""

    def __init__(self) -> None:
        self.reachable = True
        self.asked = 0
        self.within: list[float] = []


async def fake_probe(client: FakeClient, within: float) -> str | None:
    """scheduler.kafka.probe_broker against the stand-in client."""
    client.asked += 1
    client.within.append(within)
    return None if client.reachable else "127.0.0.1:9092: no answer within 5 s"


class FakeProducer:
    def __init__(self) -> None:
        self.client = FakeClient()


class Harness:
    def __init__(self, clock: FakeClock, **config: Any) -> None:
        values: dict[str, Any] = {
            "max_attempts": 3,
            "retry_base_seconds": 2.0,
            "retry_max_seconds": 60.0,
            "breaker_threshold": 2,
            "breaker_reset_seconds": 10.0,
            "dead_letter_topic": DLQ,
            "node_id": "node-a",
            "lease_seconds": 30.0,
        }
        values.update(config)
        self.store = FakeStore()
        self.producer = FakeProducer()
        self.batches = FakeBatches()
        self.outcomes: list[Outcome] = []
        self.clock = clock

        async def record(batch: list[Outcome]) -> None:
            self.outcomes += batch

        self.executor = Executor(
            self.store,  # type: ignore[arg-type]
            self.producer,  # type: ignore[arg-type]
            executor_config(**values),
            on_outcomes=record,
            clock=clock,
        )
        self.executor.batches = self.batches  # type: ignore[assignment]

    async def fire(self, *items: tuple[str, int], **event_kw: Any) -> None:
        """Fire one claimed batch of (schedule_id, failed attempts so far)."""
        claimed = [
            Claimed(make_event(sid, at=NOW - 1, topic="target", **event_kw), attempts)
            for sid, attempts in items
        ]
        await self.executor._fire(ClaimedBatch(7, claimed, self.clock.now))

    def statuses(self) -> dict[str, OutcomeStatus]:
        return {o.event.schedule_id: o.status for o in self.outcomes}

    def sent_to(self, topic: str) -> list[str]:
        sent = [m for m in self.batches.sent if m.topic == topic]
        return [dict(m.headers)["schedule_id"].decode() for m in sent]


@pytest.fixture
def h(monkeypatch: pytest.MonkeyPatch) -> Harness:
    monkeypatch.setattr(executor_module, "probe_broker", fake_probe)
    return Harness(FakeClock(NOW))


def executed(outcome: str) -> float:
    return REGISTRY.get_sample_value("schedules_events_executed_total", {"outcome": outcome}) or 0


async def test_an_acked_event_is_forgotten_and_recorded_as_success(h: Harness) -> None:
    before = executed("success")
    await h.fire(("a", 0), ("b", 1))
    assert h.sent_to("target") == ["a", "b"]
    assert h.store.acked == ["a", "b"] and h.store.released == []
    a, b = h.outcomes
    assert (a.status, a.executed_at, a.attempt, a.claimed_at, a.node_id) == (
        "success",
        ACK_TIME,
        1,
        NOW,
        "node-a",
    )
    assert (b.status, b.attempt) == ("success", 2)
    # The attempt number travels in the message, 1-based.
    assert [dict(m.headers)["attempt"] for m in h.batches.sent] == [b"1", b"2"]
    assert executed("success") == before + 2


async def test_times_are_reported_by_redis_clock_when_the_executor_clock_is_off(
    h: Harness,
) -> None:
    """Redis decided the event was due; the executor's clock, a minute behind, only shifts
    what it measures: its times are put on Redis's clock by the offset the claim showed."""
    h.store.redis_now = NOW + 60
    h.store.claimable = [Claimed(make_event("a", at=NOW + 59, topic="target"), 0)]
    lateness = "schedules_firing_lateness_seconds_sum"
    before = REGISTRY.get_sample_value(lateness) or 0
    batch = await h.executor._claim()
    assert batch is not None
    await h.executor._fire(batch)
    assert h.sent_to("target") == ["a"] and h.store.acked == ["a"]
    (o,) = h.outcomes
    assert (o.status, o.claimed_at, o.executed_at) == ("success", NOW + 60, ACK_TIME + 60)
    assert h.batches.stamps == [NOW + 60]  # the record's timestamp too
    assert (REGISTRY.get_sample_value(lateness) or 0) - before == pytest.approx(1.25)


async def test_a_transient_error_is_retried_later_with_the_attempt_counted(h: Harness) -> None:
    h.batches.answer = lambda m: NotLeaderForPartitionError("moved")
    await h.fire(("a", 1))  # second attempt fails; max_attempts is 3
    (release,) = h.store.released
    assert release.schedule_id == "a" and release.count_attempt is True
    # Backoff for attempt 2: ceiling min(60, 2 * 2) = 4 s, at least half of it.
    assert 2.0 <= release.delay <= 4.0
    (o,) = h.outcomes
    assert (o.status, o.attempt) == ("retry", 2)
    assert o.error is not None and o.error.startswith("NotLeaderForPartitionError")
    assert h.store.acked == [] and h.sent_to(DLQ) == []


async def test_the_last_attempt_failing_dead_letters_it(h: Harness) -> None:
    h.batches.answer = lambda m: ACK_TIME if m.topic == DLQ else KafkaTimeoutError("slow")
    await h.fire(("a", 2))  # third attempt of 3
    assert h.sent_to("target") == ["a"] and h.sent_to(DLQ) == ["a"]
    (dead,) = [m for m in h.batches.sent if m.topic == DLQ]
    headers = dict(dead.headers)
    assert headers["x-dlq-reason"] == b"retries_exhausted"
    assert headers["x-original-topic"] == b"target"
    assert headers["x-dlq-error"].startswith(b"KafkaTimeoutError")
    assert dead.value == make_event("a").body
    assert h.store.acked == ["a"] and h.store.released == []
    (o,) = h.outcomes
    assert o.status == "dead_letter" and o.error is not None
    assert o.error.startswith("retries_exhausted: KafkaTimeoutError")


@pytest.mark.parametrize(
    ("error", "timed_out"),
    [
        (KafkaTimeoutError("not acknowledged within 15.0s"), True),
        (RequestTimedOutError(), True),
        (NotLeaderForPartitionError("moved"), False),
        (KafkaConnectionError("refused"), False),  # a partial failure: no outage
        # The class decides, not the text.
        (UnknownError("the broker said KafkaTimeoutError"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
async def test_a_retry_says_whether_the_send_timed_out(
    h: Harness, error: BaseException, timed_out: bool
) -> None:
    # One event delivered, one failed: never an outage, so the failure is classified.
    h.batches.answer = lambda m: ACK_TIME if m.key == b"ok" else error
    await h.fire(("ok", 0), ("a", 0), correlation_id=None)
    by_id = {o.event.schedule_id: o for o in h.outcomes}
    assert by_id["a"].status is OutcomeStatus.RETRY
    assert by_id["a"].timed_out is timed_out
    assert by_id["ok"].timed_out is False
    assert result_status(by_id["a"]) == ("timeout" if timed_out else "error")


async def test_a_dead_letter_says_whether_the_last_send_timed_out(h: Harness) -> None:
    def answer(m: Message) -> Result:
        if m.topic == DLQ:
            return ACK_TIME
        return {b"slow": KafkaTimeoutError("slow"), b"big": MessageSizeTooLargeError()}[m.key]

    h.batches.answer = answer
    # "slow" on its last attempt, "big" refused for good, "spent" out of attempts unsent.
    await h.fire(("slow", 2), ("big", 0), ("spent", 3), correlation_id=None)
    assert h.statuses() == {"slow": "dead_letter", "big": "dead_letter", "spent": "dead_letter"}
    assert {o.event.schedule_id: o.timed_out for o in h.outcomes} == {
        "slow": True,
        "big": False,
        "spent": False,
    }
    _, results = outcome_rows(h.outcomes, "n")
    sid, status = RESULT_COLUMNS.index("schedule_id"), RESULT_COLUMNS.index("status")
    assert {r[sid]: r[status] for r in results} == {
        "slow": "timeout",
        "big": "error",
        "spent": "error",
    }


async def test_outcome_statuses_are_the_metric_labels(h: Harness) -> None:
    assert [s.value for s in OutcomeStatus] == ["success", "retry", "dead_letter", "skipped"]
    before = executed("retry")
    h.batches.answer = lambda m: NotLeaderForPartitionError("moved")
    await h.fire(("a", 0))
    assert executed("retry") == before + 1
    assert f"{h.outcomes[0].status}" == "retry"  # logs show the value too


async def test_a_permanent_error_dead_letters_on_the_first_attempt(h: Harness) -> None:
    h.batches.answer = lambda m: ACK_TIME if m.topic == DLQ else MessageSizeTooLargeError()
    await h.fire(("a", 0))
    (dead,) = [m for m in h.batches.sent if m.topic == DLQ]
    assert dict(dead.headers)["x-dlq-reason"] == b"permanent_error"
    assert h.statuses() == {"a": "dead_letter"} and h.store.acked == ["a"]


async def test_an_event_out_of_attempts_is_dead_lettered_without_sending(h: Harness) -> None:
    await h.fire(("a", 3), ("b", 0))
    assert h.sent_to("target") == ["b"]
    (dead,) = [m for m in h.batches.sent if m.topic == DLQ]
    assert dict(dead.headers)["x-dlq-reason"] == b"retries_exhausted"
    assert dict(dead.headers)["x-dlq-error"] == b"3 attempts failed"
    assert h.statuses() == {"a": "dead_letter", "b": "success"}
    assert sorted(h.store.acked) == ["a", "b"]


async def test_an_event_later_than_its_max_delay_is_skipped_unsent(h: Harness) -> None:
    # Due at NOW - 1 with max_delay_seconds 600: it fires until NOW + 599, then is skipped.
    h.clock.now = NOW + 599
    await h.fire(("in-time", 0), max_delay_seconds=600)
    h.clock.now = NOW + 599.001
    await h.fire(("too-late", 0), max_delay_seconds=600)
    assert h.sent_to("target") == ["in-time"]
    assert h.statuses() == {"in-time": "success", "too-late": "skipped"}
    assert h.store.acked == ["in-time", "too-late"]


async def test_an_undeliverable_dead_letter_stays_pending(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Too large for the target and for the dead-letter topic: kept, never dropped."""
    h.batches.answer = lambda m: MessageSizeTooLargeError()
    with caplog.at_level(logging.ERROR, logger="scheduler.hot.executor"):
        await h.fire(("big", 0))
    assert h.sent_to("target") == ["big"] and h.sent_to(DLQ) == ["big"]
    assert h.store.acked == [] and h.outcomes == []
    # Back to pending after the longest backoff, without counting an attempt.
    assert h.store.released == [Release("big", 60.0, False)]
    assert "dead-lettering big failed" in caplog.text


async def test_an_outage_hands_events_back_uncounted_and_opens_the_breaker(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h.batches.answer = lambda m: KafkaConnectionError("refused")
    h.producer.client.reachable = False
    with caplog.at_level(logging.WARNING, logger="scheduler.hot.executor"):
        await h.fire(("a", 0), ("b", 2))
    assert "broker unreachable (127.0.0.1:9092: no answer within 5 s)" in caplog.text
    # Not the events' fault: no attempt counted, nothing dead-lettered (b is on its last).
    assert h.store.released == [Release("a", 10.0, False), Release("b", 10.0, False)]
    assert h.outcomes == [] and h.sent_to(DLQ) == [] and h.store.acked == []
    assert h.producer.client.asked == 1  # a real round trip decided it
    assert h.producer.client.within == [5.0]  # bounded: min(5 s, a quarter of the lease)
    assert h.executor.breaker.state is State.CLOSED  # threshold 2
    await h.fire(("c", 0))
    assert h.executor.breaker.state is State.OPEN


async def test_timeouts_from_a_reachable_broker_count_as_attempts(h: Harness) -> None:
    """Every send timed out, but the broker answers a metadata request: slow, not down."""
    h.batches.answer = lambda m: KafkaTimeoutError("slow")
    await h.fire(("a", 0), ("b", 0))
    assert [r.count_attempt for r in h.store.released] == [True, True]
    assert h.statuses() == {"a": "retry", "b": "retry"}
    assert h.producer.client.asked == 1
    await h.fire(("c", 0))
    assert h.executor.breaker.state is State.CLOSED  # never counted as an outage


async def test_one_delivered_event_means_the_broker_is_up(h: Harness) -> None:
    h.batches.answer = lambda m: KafkaConnectionError("refused")
    h.producer.client.reachable = False
    await h.fire(("a", 0))  # 1 of 2 failures towards opening
    h.batches.answer = lambda m: ACK_TIME if m.key == b"b" else KafkaTimeoutError("x")
    h.producer.client.reachable = True
    await h.fire(("b", 0), ("c", 0), correlation_id=None)
    assert h.producer.client.asked == 1  # a partial failure is no outage: no probe needed
    h.batches.answer = lambda m: KafkaConnectionError("refused")
    h.producer.client.reachable = False
    await h.fire(("d", 0))
    assert h.executor.breaker.state is State.CLOSED  # the success reset the count


async def test_mixed_failures_are_not_an_outage(h: Harness) -> None:
    """All failed, but one permanently: that one is dead-lettered, the other retried."""

    def answer(m: Message) -> Result:
        if m.topic == DLQ:
            return ACK_TIME
        return MessageSizeTooLargeError() if m.key == b"big" else KafkaConnectionError("x")

    h.batches.answer = answer
    h.producer.client.reachable = False
    await h.fire(("big", 0), ("small", 0), correlation_id=None)
    assert h.statuses() == {"big": "dead_letter", "small": "retry"}
    assert h.producer.client.asked == 0
