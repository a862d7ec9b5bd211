"""Pausing and resuming firing: for everything, one topic, or priorities below a threshold
(the runbook's load shedding).

Pauses live in Redis (HASH `scheduled_events:paused`), so every executor obeys them at
its next claim and they survive restarts. A paused event stays pending (cancellable,
counted, reported by status); claim.lua just does not take it. Due events a topic or
negative-priority pause holds back are moved aside to `scheduled_events:held` so they
cannot block the scan for events that may fire; resuming moves them back and wakes the
executors, and they fire at once, oldest first. They keep their own `max_delay_seconds`:
an event paused for longer than that is skipped on resume, as any late event is.
"""

from __future__ import annotations

import enum
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scheduler.errors import InvalidEvent
from scheduler.hot.store import HotStore
from scheduler.models import INT32, is_legal_topic

log = logging.getLogger(__name__)

UNHOLD_CHUNK = 1000  # ~5 commands per event: a call stays near 10 ms
MAX_REASON = 500


class Scope(enum.StrEnum):
    ALL = "all"
    TOPIC = "topic"
    PRIORITY = "priority"


def scope_of(value: Scope | str) -> Scope:
    try:
        return Scope(value)
    except ValueError:
        raise InvalidEvent("must be one of all, topic, priority", field="scope") from None


@dataclass(frozen=True, slots=True)
class Pause:
    scope: Scope
    since: float  # Unix seconds
    reason: str | None = None
    topic: str | None = None  # scope topic
    priority_below: int | None = None  # scope priority: priorities < this are paused

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scope": self.scope.value,
            "since": datetime.fromtimestamp(self.since, UTC).isoformat(),
            "reason": self.reason,
        }
        if self.topic is not None:
            out["topic"] = self.topic
        if self.priority_below is not None:
            out["priority_below"] = self.priority_below
        return out


@dataclass(slots=True)
class PauseState:
    pauses: list[Pause] = field(default_factory=list)
    held: int = 0  # due events held aside by a topic or priority pause

    @property
    def all(self) -> bool:
        return any(p.scope is Scope.ALL for p in self.pauses)

    @property
    def topics(self) -> list[str]:
        return sorted(p.topic for p in self.pauses if p.topic is not None)

    @property
    def priority_below(self) -> int | None:
        return next((p.priority_below for p in self.pauses if p.scope is Scope.PRIORITY), None)

    def to_dict(self) -> dict[str, Any]:
        """What `stats` reports under `paused`."""
        return {
            "active": bool(self.pauses),
            "all": self.all,
            "topics": self.topics,
            "priority_below": self.priority_below,
            "held": self.held,
            "pauses": [p.to_dict() for p in self.pauses],
        }


def _field(scope: Scope, topic: str | None) -> str:
    return f"topic:{topic}" if scope is Scope.TOPIC else scope.value


def _check_reason(reason: str | None) -> str | None:
    if reason is not None and len(reason) > MAX_REASON:
        raise InvalidEvent(f"at most {MAX_REASON} characters", field="reason")
    return reason


def _check_topic(topic: str) -> str:
    if not is_legal_topic(topic):
        raise InvalidEvent("not a legal Kafka topic name (1-249 of [A-Za-z0-9._-])", field="topic")
    return topic


class PauseControl:
    """Pause, resume and report, on the hot tier's Redis."""

    def __init__(self, store: HotStore) -> None:
        self.store = store
        self.keys = store.keys

    async def pause(
        self,
        scope: Scope,
        *,
        topic: str | None = None,
        priority_below: int | None = None,
        reason: str | None = None,
        now: float | None = None,
    ) -> PauseState:
        """Start a pause (a priority pause replaces an earlier threshold; pausing what is
        already paused keeps the original `since`)."""
        meta: dict[str, Any] = {"since": time.time() if now is None else now}
        if reason := _check_reason(reason):
            meta["reason"] = reason
        if scope is Scope.TOPIC:
            if topic is None:
                raise InvalidEvent("required for a topic pause", field="topic")
            _check_topic(topic)
        if scope is Scope.PRIORITY:
            if priority_below is None:
                raise InvalidEvent("required for a priority pause", field="priority_below")
            if not -INT32 <= priority_below <= INT32 + 1:
                raise InvalidEvent("out of range", field="priority_below")
            meta["below"] = priority_below
            value = json.dumps(meta)
            await self.store.write_each(lambda k: ("HSET", k.paused, _field(scope, topic), value))
            # A lower threshold frees some held events: put all back; claims re-hold
            # those still paused.
            await self._unhold_all()
        else:
            # Every shard's claims read their own copy (a shard that already has it keeps it).
            value = json.dumps(meta)
            await self.store.write_each(lambda k: ("HSETNX", k.paused, _field(scope, topic), value))
        return await self.state()

    async def resume(self, scope: Scope, *, topic: str | None = None) -> tuple[PauseState, int]:
        """End a pause; `Scope.ALL` ends every pause. Held events go back to be claimed
        (those another pause still covers are held again). Returns the new state and how
        many held events were put back."""
        if scope is Scope.ALL:
            await self.store.write_each(lambda k: ("DEL", k.paused))
        else:
            if scope is Scope.TOPIC:
                if topic is None:
                    raise InvalidEvent("required to resume a topic", field="topic")
                _check_topic(topic)
            await self.store.write_each(lambda k: ("HDEL", k.paused, _field(scope, topic)))
        moved = await self._unhold_all()
        return await self.state(), moved

    async def _unhold_all(self) -> int:
        """Put the held events back (executors hold again those another pause still
        covers) and wake the executors. Bounded by the count at the start: claims
        re-holding events meanwhile cannot keep this loop going."""
        remaining = await self.store.held()
        moved = 0
        while moved < remaining and (n := await self.store.unhold(UNHOLD_CHUNK)):
            moved += n
        await self.store.publish_wakeups("resume")
        return moved

    async def state(self) -> PauseState:
        # Shard 0's copy of the pauses speaks for all (each change is written to all).
        raw = await self.store.redis.hgetall(self.keys.paused)
        held = await self.store.held()
        return PauseState(parse_pauses(raw, self.keys.paused), held)


def parse_pauses(raw: Mapping[Any, Any], key: str) -> list[Pause]:
    """The pauses of the HASH `key` (its HGETALL, bytes or str), by field name; an
    entry PauseControl did not write is logged and left out."""
    pauses = []
    for name, value in sorted(raw.items()):
        fname = name.decode() if isinstance(name, bytes) else name
        scope, _, topic = fname.partition(":")
        try:
            meta = json.loads(value)
            pause = Pause(
                Scope(scope),
                float(meta["since"]),
                meta.get("reason"),
                topic=topic or None,
                priority_below=meta.get("below"),
            )
        except (ValueError, KeyError, TypeError):
            # Not written by PauseControl (claim.lua still treats it as a pause of
            # nothing): report it rather than fail, so an operator can resume it.
            log.warning("unreadable pause entry %r in %s", fname, key)
            continue
        pauses.append(pause)
    return pauses
