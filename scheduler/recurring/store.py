"""Recurring schedules in Redis, the source of truth (keys in scheduler/hot/keys.py).

A definition is a JSON document in one HASH; its version sits beside it in another, so
the compare-and-set (lua/put.lua) needs no JSON in Lua. The mark says up to which time
the current generation's occurrences are materialised; lua/advance.lua moves it only for
the generation it was computed for. Each definition's materialised occurrences are kept
in a ZSET (schedule_id -> time), so an update or a delete finds the pending ones to cancel.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import cast

from pydantic import ValidationError
from redis.asyncio import Redis

from scheduler.hot.keys import Keys
from scheduler.hot.store import HotStore
from scheduler.recurring.model import RecurringDefinition

log = logging.getLogger(__name__)

SCAN_COUNT = 500


def _lua(name: str) -> str:
    return resources.files("scheduler.recurring").joinpath("lua", f"{name}.lua").read_text()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True, slots=True)
class Mark:
    generation: int
    since: int  # Unix s: the generation's occurrences are those after this
    until: int  # Unix s: its occurrences up to here are materialised

    @classmethod
    def starting(cls, generation: int, since: int) -> Mark:
        return cls(generation, since, since)

    def encode(self) -> str:
        return f"{self.generation} {self.since} {self.until}"

    @classmethod
    def decode(cls, raw: object) -> Mark:
        generation, since, until = _text(raw).split()
        return cls(int(generation), int(since), int(until))


class RecurringStore:
    def __init__(self, hot: HotStore) -> None:
        self.hot = hot
        self.redis: Redis = hot.redis
        self.keys: Keys = hot.keys
        self._put = self.redis.register_script(_lua("put"))
        self._delete = self.redis.register_script(_lua("delete"))
        self._advance = self.redis.register_script(_lua("advance"))

    @property
    def _def_keys(self) -> list[str]:
        k = self.keys
        return [k.recurring, k.recurring_versions, k.recurring_marks]

    async def last_generation(self, recurring_id: str) -> int:
        """The highest generation `recurring_id` ever had (0: never), deleted or not."""
        raw = await self.redis.hget(self.keys.recurring_generations, recurring_id)
        return 0 if raw is None else int(raw)

    def _occurrences(self, recurring_id: str) -> str:
        return self.keys.recurring_occurrences_prefix + recurring_id

    @contextlib.asynccontextmanager
    async def locked(self, recurring_id: str) -> AsyncIterator[None]:
        """This definition's occurrences are changed by one caller at a time."""
        async with self.hot.locked_ids(
            [recurring_id], prefix=self.keys.recurring_lock_prefix, ttl=30.0, wait=60.0
        ):
            yield

    async def get(self, recurring_id: str) -> tuple[RecurringDefinition, Mark | None] | None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(self.keys.recurring, recurring_id)
            pipe.hget(self.keys.recurring_marks, recurring_id)
            raw, mark = await pipe.execute()
        if raw is None:
            return None
        return (
            RecurringDefinition.model_validate_json(raw),
            None if mark is None else Mark.decode(mark),
        )

    async def all(self) -> list[RecurringDefinition]:
        """Every definition, by recurring_id (read in bounded HSCAN steps)."""
        found: list[RecurringDefinition] = []
        cursor = 0
        while True:
            cursor, batch = await self.redis.hscan(self.keys.recurring, cursor, count=SCAN_COUNT)
            for rid, raw in cast(dict[bytes, bytes], batch).items():
                try:
                    found.append(RecurringDefinition.model_validate_json(raw))
                except ValidationError as exc:  # one bad value must not stop the others
                    log.error("recurring schedule %s: unreadable definition: %s", _text(rid), exc)
            if cursor == 0:
                break
        return sorted(found, key=lambda d: d.recurring_id)

    async def put(
        self, definition: RecurringDefinition, expected_version: int, mark: Mark | None
    ) -> int | None:
        """Store `definition` (its version must be expected_version + 1) if the stored
        version is `expected_version` (0: none stored). None when stored, else the
        version found."""
        args = [
            definition.recurring_id,
            str(expected_version),
            str(definition.version),
            definition.model_dump_json(),
            "" if mark is None else mark.encode(),
            str(definition.generation),
        ]
        keys = [*self._def_keys, self.keys.recurring_generations]
        (result,) = await self.hot.write(self.hot.script(self._put, keys, args))
        return None if _text(result) == "ok" else int(_text(result))

    async def delete(self, recurring_id: str, expected_version: int | None) -> int | None:
        """Forget the definition (if at `expected_version`, when given). None when
        deleted, else the version found (0: none)."""
        expected = "" if expected_version is None else str(expected_version)
        delete = self.hot.script(self._delete, self._def_keys, [recurring_id, expected])
        (result,) = await self.hot.write(delete)
        return None if _text(result) == "ok" else int(_text(result))

    async def advance(self, recurring_id: str, generation: int, until: int) -> bool:
        advance = self.hot.script(
            self._advance, [self.keys.recurring_marks], [recurring_id, generation, until]
        )
        (result,) = await self.hot.write(advance)
        return bool(result)

    async def track(self, recurring_id: str, occurrences: Sequence[tuple[str, float]]) -> None:
        if occurrences:
            pairs = [x for sid, at in occurrences for x in (repr(float(at)), sid)]
            await self.hot.write(("ZADD", self._occurrences(recurring_id), *pairs))

    async def tracked(self, recurring_id: str) -> list[tuple[str, float]]:
        raw = await self.redis.zrange(self._occurrences(recurring_id), 0, -1, withscores=True)
        return [(_text(m), float(s)) for m, s in cast(list[tuple[bytes, float]], raw)]

    async def untrack(self, recurring_id: str, schedule_ids: Sequence[str]) -> None:
        if schedule_ids:
            await self.hot.write(("ZREM", self._occurrences(recurring_id), *schedule_ids))

    async def prune(self, recurring_id: str, before: float) -> None:
        """Stop tracking occurrences due before `before` (fired long ago)."""
        prune = ("ZREMRANGEBYSCORE", self._occurrences(recurring_id), "-inf", f"({before!r}")
        await self.hot.write(prune)

    async def forget(self, recurring_id: str) -> None:
        await self.hot.write(("DEL", self._occurrences(recurring_id)))
