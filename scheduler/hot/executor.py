"""The executor: claim due events, produce them to their topics, then ack.

    loop:  claim a batch (Lua, atomic, leased)  ->  produce all  ->  ack / retry / dead-letter
           nothing due?  sleep until the head is due, or a wake-up, or the idle interval

Time is Redis's: the scripts decide due-ness, lease deadlines and retry times by the
server's clock, and the wait for the head is measured by it, so an executor whose clock is
skewed neither fires early nor sleeps past a due event. Its own clock only measures local
durations; the times it reports (outcomes, lateness, its records' timestamps) are shifted
onto Redis's clock by the offset seen at the last claim.

At-least-once: an event is forgotten only after the broker acknowledged it (or its dead
letter). An executor that dies leaves leases that expire; the reaper in any executor
returns those events to pending and they fire again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from aiokafka import AIOKafkaProducer

from scheduler import metrics
from scheduler.hot.backoff import Outage, retry_delay
from scheduler.hot.breaker import CircuitBreaker, State
from scheduler.hot.outcome import Outcome, OutcomeHandler, OutcomeStatus
from scheduler.hot.produce import BatchProducer, Message, Result
from scheduler.hot.store import Claimed, ClaimedBatch, HotStore, Release, Unreadable
from scheduler.kafka import (
    is_retryable,
    is_timeout,
    is_unavailable,
    max_request_bytes,
    probe_broker,
)
from scheduler.models import Event
from scheduler.settings import RateLimit, Settings

log = logging.getLogger(__name__)

PAUSED_POLL_SECONDS = 0.1
# Shortest sleep while only rate-limited events are due: their next token may be µs away,
# and a claim per token would spin; at this pace a claim takes what accrued meanwhile.
THROTTLED_POLL_SECONDS = 0.01


@dataclass(frozen=True, slots=True)
class ExecutorConfig:
    """The executor's settings (no defaults here: build it with from_settings)."""

    batch_size: int
    lease_seconds: float
    max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float
    idle_interval: float
    dead_letter_topic: str
    node_id: str
    breaker_threshold: int
    breaker_reset_seconds: float
    # Batches claimed and being produced at once: while one batch waits for the broker's
    # ack, the next is claimed and sent, so a backlog drains at CPU speed, not RTT speed.
    concurrent_batches: int
    max_request_bytes: int
    # SCHEDULES_TOPIC_RATE_LIMITS (limits set at run time, in Redis, override them).
    rate_limits: dict[str, RateLimit] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, s: Settings) -> ExecutorConfig:
        return cls(
            batch_size=s.executor_batch_size,
            lease_seconds=s.lease_seconds,
            max_attempts=s.max_attempts,
            retry_base_seconds=s.retry_base_seconds,
            retry_max_seconds=s.retry_max_seconds,
            idle_interval=s.redis_processing_interval,
            dead_letter_topic=s.dead_letter_topic,
            node_id=s.node_id,
            breaker_threshold=s.breaker_failure_threshold,
            breaker_reset_seconds=s.breaker_reset_seconds,
            concurrent_batches=s.executor_concurrent_batches,
            max_request_bytes=max_request_bytes(s),
            rate_limits=s.rate_limits,
        )


@functools.lru_cache(maxsize=4096)
def _iso_second(second: int) -> bytes:
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S").encode()


def iso_utc(ts: float) -> bytes:
    """`2026-11-23T06:33:43.694000+00:00`, as datetime.isoformat() gives, but cheap: a
    backlog fires many events per second, so the seconds part is formatted once."""
    second, micro = divmod(round(ts * 1_000_000), 1_000_000)
    return b"%s.%06d+00:00" % (_iso_second(second), micro)


# The `attempt` header's values (SCHEDULES_MAX_ATTEMPTS is at most 100), encoded once.
_ATTEMPTS = [str(n).encode() for n in range(101)]


def kafka_headers(ev: Event, attempt: int) -> list[tuple[str, bytes]]:
    # Built with as few objects as it takes: a backlog builds one list per event.
    headers = []
    if ev.headers:
        for k, v in ev.headers.items():
            headers.append((k, v.encode()))
    headers += (
        ("schedule_id", ev.schedule_id.encode()),
        ("correlation_id", ev.correlation_id.encode() if ev.correlation_id else b""),
        ("entity_type", ev.entity_type.encode()),
        ("action", ev.action.encode()),
        ("scheduled_at", iso_utc(ev.scheduled_at)),
        ("attempt", _ATTEMPTS[attempt] if attempt < len(_ATTEMPTS) else str(attempt).encode()),
    )
    return headers


def _message(item: Claimed) -> Message:
    ev = item.event
    key = (ev.correlation_id or ev.schedule_id).encode()
    return Message(ev.topic, key, ev.body, kafka_headers(ev, item.attempts + 1))


class _Dead(NamedTuple):
    """An event to dead-letter: why (x-dlq-reason), the error, and whether it timed out."""

    item: Claimed
    reason: str
    error: str
    timed_out: bool = False


@dataclass(slots=True)
class _Plan:
    claimed_at: float  # by Redis's clock
    lease_end: float  # by the executor's clock: when to stop trying to ack
    ack: list[str] = field(default_factory=list)
    release: list[Release] = field(default_factory=list)
    dead: list[_Dead] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)


class Executor:
    def __init__(
        self,
        store: HotStore,
        producer: AIOKafkaProducer,
        config: ExecutorConfig,
        *,
        on_outcomes: OutcomeHandler | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.producer = producer
        self.batches = BatchProducer(producer, config.max_request_bytes)
        self.config = config
        self.breaker = CircuitBreaker(config.breaker_threshold, config.breaker_reset_seconds)
        self.on_outcomes = on_outcomes
        self.clock = clock
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._blocked = False  # the last claim found due events that a pause holds back
        self._throttle_wait: float | None = None  # the last claim's wait for a token
        # Redis's clock minus ours, as seen at the last claim (a round trip's accuracy).
        self._offset = 0.0
        self.running = False
        # Each loop lives through Redis going away: one warning when it starts failing,
        # one line when it works again, backoff in between (scheduler/hot/backoff.py).
        self.claiming = Outage("executor: claiming due events", log, base=0.1, cap=1.0)
        self.reaping = Outage("executor: reaping expired leases", log, base=0.1, cap=1.0)
        self.listening = Outage("executor: wake-up subscription", log, base=0.1, cap=1.0)
        self.acking = Outage("executor: acking fired events", log, base=0.05, cap=1.0)

    # --- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        """Fire events until stop(); also reaps expired leases and listens for wake-ups."""
        self.running = True
        helpers = [
            asyncio.create_task(self._reap_loop(), name="reaper"),
            asyncio.create_task(self._listen_wakeups(), name="wakeup-listener"),
        ]
        slots = asyncio.Semaphore(self.config.concurrent_batches)
        firing: set[asyncio.Task[None]] = set()
        try:
            while not self._stopping.is_set():
                await slots.acquire()
                holding = True
                try:
                    batch = await self._claim()
                    if batch is None:
                        slots.release()
                        holding = False
                        await self._idle()
                except Exception as exc:  # Redis away: log once, back off, keep going
                    if holding:
                        slots.release()
                    await self._sleep(self.claiming.failed(exc))
                    continue
                self.claiming.recovered()
                if batch is None:
                    continue
                task = asyncio.create_task(self._fire_guarded(batch))
                firing.add(task)
                task.add_done_callback(firing.discard)
                task.add_done_callback(lambda _t: slots.release())
        finally:
            self.running = False
            # Let claimed batches finish (ack or release); any left when this times out
            # keep their leases, which expire and make the events fire elsewhere.
            if firing:
                await asyncio.wait(firing, timeout=self.config.lease_seconds)
            for t in helpers:
                t.cancel()
            await asyncio.wait(helpers, timeout=5.0)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def _claim(self) -> ClaimedBatch | None:
        """The next due batch, or None when nothing is due or the breaker is open."""
        if self.breaker.state is State.OPEN:
            await self._sleep(self.breaker.wait_seconds())
            return None
        limit = 1 if self.breaker.state is State.HALF_OPEN else self.config.batch_size
        batch = await self.store.claim(limit, self.config.lease_seconds, self.config.rate_limits)
        self._offset = batch.now - self.clock()
        self._blocked = batch.blocked
        self._throttle_wait = batch.throttle_wait
        if batch.throttled:
            metrics.EVENTS_THROTTLED.inc(batch.throttled)
        if not batch.items:
            return None
        metrics.CLAIM_BATCH.observe(len(batch.items))
        return batch

    async def _fire_guarded(self, batch: ClaimedBatch) -> None:
        try:
            await self._fire(batch)
        except Exception:
            # Whatever was not acked or released keeps its lease and fires again later.
            log.exception("firing a batch of %d failed", len(batch.items))

    async def _idle(self) -> None:
        # Clear before reading the head: a wake-up published after the read must still
        # cut this wait short, or an earlier event could wait out the idle interval.
        self._wake.clear()
        due_in = await self.store.due_in()  # by Redis's clock, as the claim decides
        wait = self.config.idle_interval
        if due_in is not None:
            # While paused the head may be due but not ours to take: poll for events
            # the pause does not cover (or the resume's wake-up) instead of spinning.
            floor = PAUSED_POLL_SECONDS if self._blocked else 0.0
            wait = min(wait, max(floor, due_in))
        if self._throttle_wait is not None:
            # Due events wait for a rate limit's next token (they are not in the head).
            wait = min(wait, max(THROTTLED_POLL_SECONDS, self._throttle_wait))
        await self._wait(wait)

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        await self._wait(seconds)

    async def _wait(self, seconds: float) -> None:
        if self._stopping.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _listen_wakeups(self) -> None:
        pubsub = None
        try:
            while True:
                try:
                    if pubsub is None:
                        pubsub = await self.store.pubsub()
                    # One channel per shard: its name says which shard has news.
                    await pubsub.subscribe(*(k.wakeup for k in self.store.shards))
                    async for msg in pubsub.listen():
                        if msg["type"] == "message":
                            self.store.claim_first(msg["channel"])
                            self._wake.set()
                        elif msg["type"] == "subscribe" and self.listening.down:
                            # Wake-ups published while we were away are lost: look again.
                            self.listening.recovered()
                            self._wake.set()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # connection lost: the idle interval bounds waits
                    await asyncio.sleep(self.listening.failed(exc))
        finally:
            # Bounded: closing a connection whose read was just cancelled can hang.
            if pubsub is not None:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(pubsub.aclose(), 1.0)

    async def _reap_loop(self) -> None:
        every = max(0.05, min(self.config.lease_seconds / 3, 5.0))
        while True:
            await asyncio.sleep(every)
            try:
                n = await self.store.reap()
                # Events held aside by a pause that ended without putting them back
                # (its resume was interrupted): return them once no pause is left.
                unheld = await self.store.unhold(only_when_unpaused=True)
            except Exception as exc:  # Redis away: the interval paces the retries
                self.reaping.failed(exc)
                continue
            self.reaping.recovered()
            if n:
                metrics.LEASES_REAPED.inc(n)
                log.warning("returned %d events whose executor lease expired", n)
            if unheld:
                log.warning("returned %d events held by a pause that has ended", unheld)
                with contextlib.suppress(Exception):  # wake the other executors too
                    await self.store.publish_wakeups("unheld")
            if n or unheld:
                self._wake.set()

    # --- one batch -----------------------------------------------------------------------

    async def _fire(self, batch: ClaimedBatch) -> None:
        cfg = self.config
        now = batch.now  # Redis's clock at the claim
        plan = _Plan(claimed_at=now, lease_end=self.clock() + cfg.lease_seconds)
        sending: list[Claimed] = []
        if batch.unreadable:
            await self._dead_letter_unreadable(batch.unreadable, plan)
        for item in batch.items:
            ev = item.event
            if item.attempts >= cfg.max_attempts:
                plan.dead.append(
                    _Dead(item, "retries_exhausted", f"{item.attempts} attempts failed")
                )
            elif now > ev.scheduled_at + ev.max_delay_seconds:
                plan.ack.append(ev.schedule_id)
                plan.outcomes.append(
                    self._outcome(
                        plan, item, OutcomeStatus.SKIPPED, now, "later than max_delay_seconds"
                    )
                )
            else:
                sending.append(item)
        # Records are stamped by Redis's clock too, never before the claim that found
        # them due (the offset is only as exact as a round trip).
        stamp = max(self._now(), batch.now)
        results = await self.batches.produce(
            [_message(item) for item in sending], self._produce_timeout(), stamp
        )
        await self._classify(sending, results, plan)
        if plan.dead:
            await self._dead_letter(plan)
        if not await self._write_back(batch.token, plan):
            return  # they keep their lease and fire again; recorded then
        for status, n in Counter(o.status for o in plan.outcomes).items():
            metrics.EVENTS_EXECUTED.labels(status).inc(n)
        if self.on_outcomes and plan.outcomes:
            await self.on_outcomes(plan.outcomes)

    async def _write_back(self, token: int, plan: _Plan) -> bool:
        """Ack and release the batch's events in Redis; False if that did not happen.

        Failures (Redis away) are retried with backoff while the batch's lease lasts: an
        event acked in time does not fire twice, and acking late is harmless (the lease
        token tells the script whether the events are still ours). If the lease runs out
        first, or the executor is stopping, they keep it: the reaper of any executor
        returns them to pending and they fire again (at least once, never lost).
        """
        ack, release = plan.ack, plan.release
        tries = 0
        while True:
            started = time.monotonic()
            try:
                if ack:
                    await self.store.ack(token, ack)
                    ack = []
                if release:
                    await self.store.release(token, release)
                    release = []
            except Exception as exc:
                self.acking.failed(exc, started)
                tries += 1
                delay = retry_delay(tries, self.acking.base, self.acking.cap)
                if self._stopping.is_set() or self.clock() + delay >= plan.lease_end:
                    log.warning(
                        "could not ack or release %d events before their lease ends (%s); "
                        "they fire again",
                        len(ack) + len(release),
                        exc,
                    )
                    return False
                await asyncio.sleep(delay)
            else:
                self.acking.recovered(started)
                return True

    async def _classify(self, items: list[Claimed], results: list[Result], plan: _Plan) -> None:
        cfg = self.config
        failures = [r for r in results if isinstance(r, BaseException)]
        if len(failures) < len(items):
            self.breaker.record_success()
        outage = bool(failures) and len(failures) == len(items)
        outage = outage and all(is_unavailable(e) for e in failures)
        if outage and (down := await self._broker_down()) is not None:
            # The broker is down: not the events' fault, so no attempt is counted. They go
            # back to pending and the breaker stops further claims until a probe succeeds.
            self.breaker.record_failure()
            retry_in = min(cfg.breaker_reset_seconds, cfg.retry_max_seconds)
            for item in items:
                plan.release.append(Release(item.event.schedule_id, retry_in, False))
            log.warning("broker unreachable (%s): %d events returned to pending", down, len(items))
            return
        # Looked up once: a backlog passes here for every event it fires.
        offset, observe = self._offset, metrics.FIRING_LATENESS.observe
        ack, outcomes, node, claimed_at = plan.ack, plan.outcomes, cfg.node_id, plan.claimed_at
        success = OutcomeStatus.SUCCESS
        for item, res in zip(items, results, strict=True):
            if not isinstance(res, BaseException):
                ev = item.event
                acked_at = res + offset  # the broker's ack, on Redis's clock
                observe(max(0.0, acked_at - ev.scheduled_at))
                ack.append(ev.schedule_id)
                outcomes.append(
                    Outcome(ev, success, acked_at, item.attempts + 1, None, node, claimed_at)
                )
                continue
            error = f"{type(res).__name__}: {res}"
            timed_out = is_timeout(res)
            attempt = item.attempts + 1
            if is_retryable(res) and attempt < cfg.max_attempts:
                delay = retry_delay(attempt, cfg.retry_base_seconds, cfg.retry_max_seconds)
                plan.release.append(Release(item.event.schedule_id, delay, True))
                plan.outcomes.append(
                    self._outcome(plan, item, OutcomeStatus.RETRY, self._now(), error, timed_out)
                )
            else:
                reason = "retries_exhausted" if is_retryable(res) else "permanent_error"
                plan.dead.append(_Dead(item, reason, error, timed_out))

    async def _dead_letter(self, plan: _Plan) -> None:
        """Produce failed events to the dead-letter topic, then ack them there.

        If even that fails they go back to pending (no attempt counted) to be tried again
        after the longest backoff: nothing that was accepted is dropped.
        """
        cfg = self.config
        messages = []
        for item, reason, error, _ in plan.dead:
            ev = item.event
            headers = [
                *kafka_headers(ev, item.attempts + 1),
                ("x-dlq-stage", b"publish"),
                ("x-dlq-reason", reason.encode()),
                ("x-dlq-error", error.encode()[:1024]),
                ("x-original-topic", ev.topic.encode()),
            ]
            messages.append(
                Message(cfg.dead_letter_topic, ev.schedule_id.encode(), ev.body, headers)
            )
        results = await self.batches.produce(messages, self._produce_timeout(), self._now())
        later = cfg.retry_max_seconds
        for (item, reason, error, timed_out), res in zip(plan.dead, results, strict=True):
            if isinstance(res, BaseException):
                log.error(
                    "dead-lettering %s failed (%s); keeping it pending",
                    item.event.schedule_id,
                    res,
                )
                plan.release.append(Release(item.event.schedule_id, later, False))
            else:
                metrics.DEAD_LETTERS.labels("publish").inc()
                plan.ack.append(item.event.schedule_id)
                plan.outcomes.append(
                    self._outcome(
                        plan,
                        item,
                        OutcomeStatus.DEAD_LETTER,
                        self._now(),
                        f"{reason}: {error}",
                        timed_out,
                    )
                )

    async def _dead_letter_unreadable(self, found: list[Unreadable], plan: _Plan) -> None:
        """Payloads that are not events (corrupt, or written by something else) go to the
        dead-letter topic as stored, and are forgotten; if even that fails they wait
        for the longest backoff, like any event the dead-letter topic refuses."""
        messages = [
            Message(
                self.config.dead_letter_topic,
                u.schedule_id.encode(),
                u.payload,
                [
                    ("schedule_id", u.schedule_id.encode()),
                    ("x-dlq-stage", b"publish"),
                    ("x-dlq-reason", b"unreadable_payload"),
                    ("x-dlq-error", u.error.encode()[:1024]),
                ],
            )
            for u in found
        ]
        results = await self.batches.produce(messages, self._produce_timeout(), self._now())
        later = self.config.retry_max_seconds
        for u, res in zip(found, results, strict=True):
            if isinstance(res, BaseException):
                log.error("dead-lettering unreadable %s failed (%s)", u.schedule_id, res)
                plan.release.append(Release(u.schedule_id, later, False))
            else:
                log.error("dead-lettered %s: %s", u.schedule_id, u.error)
                metrics.DEAD_LETTERS.labels("publish").inc()
                plan.ack.append(u.schedule_id)

    def _now(self) -> float:
        """Redis's clock, as estimated from ours and the offset seen at the last claim."""
        return self.clock() + self._offset

    def _produce_timeout(self) -> float:
        """Half the lease for producing, a quarter for the reachability probe: a batch
        is always acked or released before its lease ends, so no other executor fires
        it meanwhile and no attempt is counted for a slow broker."""
        return self.config.lease_seconds / 2

    async def _broker_down(self) -> str | None:
        """Why no broker the producer knows answers a request (None if one does): a real
        round trip (scheduler.kafka.probe_broker), not just an open socket, since a hung
        broker keeps its connections but answers nothing."""
        return await probe_broker(self.producer.client, min(5.0, self.config.lease_seconds / 4))

    def _outcome(
        self,
        plan: _Plan,
        item: Claimed,
        status: OutcomeStatus,
        at: float,
        error: str | None = None,
        timed_out: bool = False,
    ) -> Outcome:
        return Outcome(
            item.event,
            status,
            at,
            item.attempts + 1,
            error,
            self.config.node_id,
            plan.claimed_at,
            timed_out,
        )
