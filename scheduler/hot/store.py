"""The Redis hot tier: every multi-key change is one short Lua script (see lua/).

Every state-changing call goes through `HotStore.write` (scripts as `HotStore.script`
commands, plain commands as tuples): with SCHEDULES_REDIS_MIN_REPLICAS_ACK = N > 0 it
sends, on one connection and in one round trip, the commands, an INCR of
`scheduled_events:replication` and `WAIT N timeout`, and raises NotReplicated when fewer
than N replicas acknowledged: the caller then treats the write as not stored (the API
answers 503, the consumer commits nothing, the executor does not produce a claim it
could not replicate) and tries again. Reads go straight to the client.

Shards (SCHEDULES_REDIS_SHARDS, scheduler.hot.keys): each call that names schedule_ids
goes to the shard of each id (a batch splits into one call per shard); claims start at a
rotating shard and take from the first that has due events, so no shard starves; reads
that count or list add up every shard. One `write` stays within one shard (one hash
tag), so it is one slot of a Redis Cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, cast

import msgpack
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, ReadOnlyError, ResponseError

from scheduler import codec, metrics
from scheduler.errors import ConfigError, NotReplicated, SchedulerError, ServiceUnavailable
from scheduler.hot.keys import Keys, shard_count_key, shard_keys, shard_of
from scheduler.models import Event
from scheduler.settings import RateLimit, Settings

# Scripts run atomically and block Redis while they run, so every call is bounded:
# ~10 µs of script time per event keeps a 1,000-event call near 10 ms.
SCHEDULE_CHUNK = 500
RELEASE_CHUNK = 1000
REAP_LIMIT = 1000
CLAIM_MAX = 5000
CLAIM_CALL = 500  # events per claim script call; a larger claim takes several calls
MAX_SKIP = 1000
SCAN_COUNT = 1000  # entries per HSCAN/ZSCAN step of the orphan sweep
REPLAYING = b"\x00replaying"  # a dead letter's replay under way (never a schedule_id)


class CancelResult(enum.StrEnum):
    """What a cancel found. Truthy when something was cancelled."""

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    UNKNOWN = "unknown"

    def __bool__(self) -> bool:
        return self is not CancelResult.UNKNOWN


class HotChange(enum.StrEnum):
    """What `HotStore.reschedule` did."""

    RESCHEDULED = "rescheduled"  # it was pending (held by a pause, or throttled): changed
    ADDED = "added"  # Redis did not hold it: stored (only when asked to)
    IN_FLIGHT = "in_flight"  # an executor holds it: nothing changed
    UNKNOWN = "unknown"  # not in Redis: nothing changed


@dataclass(slots=True)
class Claimed:
    event: Event
    attempts: int  # failed delivery attempts before this one


@dataclass(slots=True)
class ClaimedBatch:
    token: int
    items: list[Claimed]
    # Redis's clock when it claimed them (Unix s): due-ness was decided by this time.
    now: float
    # Nothing was claimed (or held aside) because a pause applies: poll, do not spin.
    blocked: bool = False
    # Seconds until a rate-limited topic whose due events wait gets its next token
    # (None: no event waits for one).
    throttle_wait: float | None = None
    # Due events this claim moved aside because their topic's rate limit was reached.
    throttled: int = 0
    # Claimed ids whose stored payload is not one (corrupt, or written by someone else).
    unreadable: list[Unreadable] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Unreadable:
    schedule_id: str
    payload: bytes  # as stored
    error: str


@dataclass(frozen=True, slots=True)
class HotState:
    """One event as Redis holds it now (HotStore.states)."""

    state: str  # pending, held (by a pause), throttled (by a rate limit) or in_flight
    event: Event
    attempts: int  # failed delivery attempts so far


# A listing key: (scheduled time in µs as Redis has it, schedule_id), the order listings
# page in (scheduler.listing).
Key = tuple[int, str]


def _us(score: float | bytes | str) -> int:
    return round(float(score) * 1_000_000)


@dataclass(frozen=True, slots=True)
class Release:
    schedule_id: str
    delay: float  # seconds after Redis's clock at the release: the new scheduled time
    count_attempt: bool


# One Redis command, as sent: ("HSET", key, field, value), or a script's
# ("EVALSHA", sha, number of keys, *keys, *args) from HotStore.script.
Command = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Replication:
    """How many replicas must have each write before it counts (0 = do not wait)."""

    replicas: int = 0
    timeout: float = 1.0  # seconds WAIT waits for them

    @classmethod
    def from_settings(cls, s: Settings) -> Replication:
        return cls(s.redis_min_replicas_ack, s.redis_replica_ack_timeout)


def _text(value: object) -> str:
    """A Redis reply (bytes: the hot tier's client does not decode) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


# The scripts that take Keys.script_keys; lua/prelude.lua is put before each of them.
KEYED_SCRIPTS = (
    "schedule", "claim", "ack", "release", "reap", "cancel", "orphans", "unhold", "reschedule",
    "due_in",
)  # fmt: skip
SCRIPTS = (*KEYED_SCRIPTS, "lock_ids", "unlock_ids")


def _lua(name: str) -> str:
    return resources.files("scheduler.hot").joinpath("lua", f"{name}.lua").read_text()


def script_source(name: str) -> str:
    """The source HotStore registers for script `name` (its SHA1 names it in EVALSHA)."""
    source = _lua(name)
    return _lua("prelude") + source if name in KEYED_SCRIPTS else source


def _script(redis: Redis, name: str) -> AsyncScript:
    return redis.register_script(script_source(name))


def _add_claimed(batch: ClaimedBatch, raw: list[Any]) -> None:
    """The events of a claim script's reply (after its 5 header fields), decoded."""
    for i in range(5, len(raw), 3):
        sid = raw[i].decode()
        try:
            batch.items.append(Claimed(codec.decode(sid, raw[i + 1]), int(raw[i + 2])))
        except SchedulerError as exc:  # one bad value must not stall the others
            batch.unreadable.append(Unreadable(sid, bytes(raw[i + 1]), str(exc)))


class HotStore:
    """Schedule, claim, ack, release, reap and cancel events in Redis."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys | None = None,
        *,
        replication: Replication | None = None,
        shards: int = 1,
        compress_min_bytes: int = 0,
    ) -> None:
        self.redis = redis
        # Bodies at least this long are stored deflated where that pays (scheduler.codec)
        self.compress_min_bytes = compress_min_bytes
        # Every shard's keys; `keys` is shard 0's, home of the state kept once
        # (recurring definitions, dead-letter replays).
        self.shards = shard_keys((keys or Keys()).prefix, shards)
        self.keys = self.shards[0]
        self._next_shard = 0  # where the next claim starts
        self.replication = replication or Replication()
        self._scripts = {name: _script(redis, name) for name in SCRIPTS}
        # Per shard, its script keys and channel as bytes: redis-py encodes each argument
        # of each call, and a scheduling call has 16 of them (half the cost of packing it).
        self._schedule_args = {
            k: ([key.encode() for key in k.script_keys], k.level_prefix.encode(), k.wakeup.encode())
            for k in self.shards
        }
        self._sources: dict[str, Any] = {}  # sha -> source of every script called

    # --- the one way a change reaches Redis --------------------------------------------

    def script(
        self, script: str | AsyncScript, keys: Sequence[str | bytes], args: Sequence[Any]
    ) -> Command:
        """A call of a script, for `write`: one of SCRIPTS by name, or a script another
        store registered on this client (`redis.register_script(source)`)."""
        found = self._scripts[script] if isinstance(script, str) else script
        self._sources[found.sha] = found.script
        return ("EVALSHA", found.sha, len(keys), *keys, *args)

    async def check_shards(self) -> None:
        """ConfigError unless the events in Redis are stored in as many shards as this
        store has, or there are none (a drained hot tier may change its number); the
        number is recorded (absent: one shard)."""
        n, prefix = len(self.shards), self.keys.prefix
        key = shard_count_key(prefix)
        stored = await self.redis.get(key)
        if stored is None and n > 1:
            single = Keys(prefix)
            if await self.redis.exists(single.scheduled, single.payloads, single.inflight):
                stored = b"1"  # a single-shard deployment's data, from before the count
            elif (await self.write(("SET", key, n, "NX")))[0]:
                return
            else:
                stored = await self.redis.get(key)
        found = 1 if stored is None else int(stored)
        if found == n:
            return
        counts = await HotStore(self.redis, Keys(prefix), shards=found).counts()
        if counts["pending"] or counts["in_flight"]:
            raise ConfigError(
                f"the hot tier's events are stored in {found} shard(s) ({key}) but "
                f"SCHEDULES_REDIS_SHARDS is {n}: set it to {found}, or drain the hot tier "
                "first (docs/scaling.md, 'Changing the number of shards')"
            )
        await self.write(("DEL", key) if n == 1 else ("SET", key, n))

    def claim_first(self, wakeup_channel: bytes | str) -> None:
        """The next claim starts at the shard this wake-up channel names (the shard that
        got an event earlier than its head); the rotation goes on from there."""
        name = _text(wakeup_channel)
        for i, k in enumerate(self.shards):
            if k.wakeup == name:
                self._next_shard = i
                return

    def shard(self, schedule_id: str) -> Keys:
        """The keys of the shard that holds `schedule_id`."""
        return self.shards[shard_of(schedule_id, len(self.shards))]

    def by_shard(self, schedule_ids: Iterable[str]) -> dict[Keys, list[str]]:
        """These ids per shard (in their order), only shards with any."""
        if len(self.shards) == 1:  # the common case, and a batch's ack: no lookup per id
            ids = list(schedule_ids)
            return {self.keys: ids} if ids else {}
        out: dict[Keys, list[str]] = {}
        for sid in schedule_ids:
            out.setdefault(self.shard(sid), []).append(sid)
        return out

    async def write(self, *commands: Command, keys: Keys | None = None) -> list[Any]:
        """Send state-changing commands in one round trip on one connection; their
        replies, in order. With Replication.replicas > 0 the change is confirmed by WAIT
        or NotReplicated is raised (it may then be on the primary alone: the caller must
        treat it as not stored and retry, which every script here tolerates). A script
        Redis does not know (a fresh or newly promoted primary) is loaded and its calls
        sent again; nothing else is sent twice. `keys`: the shard the commands touch
        (default: shard 0), whose replication counter the WAIT follows.
        """
        keys = keys or self.keys
        replies = await self._send(commands, keys)
        missing = [
            i
            for i, r in enumerate(replies)
            if isinstance(r, NoScriptError) and commands[i][1] in self._sources
        ]
        if missing:
            for sha in {commands[i][1] for i in missing}:
                await self.redis.script_load(self._sources[sha])
            again = await self._send([commands[i] for i in missing], keys)
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, ReadOnlyError):
                # A replica now (a failover behind a single REDIS_URL, e.g. a DNS name):
                # drop the idle connections, so the next try connects (and resolves) anew.
                pool = getattr(self.redis, "connection_pool", None)  # none in a cluster
                if pool is not None:
                    await pool.disconnect(inuse_connections=False)
                raise ServiceUnavailable(
                    f"Redis refused the write as a read-only replica ({reply}): "
                    "a failover? try again"
                ) from reply
            if isinstance(reply, Exception):
                raise reply
        return replies

    async def _send(self, commands: Sequence[Command], keys: Keys) -> list[Any]:
        """The replies of `commands` (errors as values); WAITs as Replication says."""
        need = self.replication.replicas
        if not need and len(commands) == 1:  # no pipeline for one command (~15 µs less)
            try:
                return [await self.redis.execute_command(*commands[0])]  # type: ignore[no-untyped-call]
            except ResponseError as exc:  # as the pipeline answers it: a value
                return [exc]
        # In a cluster the WAIT goes to the primary of the shard's slot, in the same
        # per-node pipeline (one connection) as the writes it confirms.
        node = await self._node(keys) if need and isinstance(self.redis, RedisCluster) else None
        async with self.redis.pipeline(transaction=False) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            if need:
                pipe.incr(keys.replication)
                wait = ("WAIT", need, max(1, round(self.replication.timeout * 1000)))
                if node is None:
                    pipe.execute_command(*wait)
                else:
                    pipe.execute_command(*wait, target_nodes=node)
            replies = list(await pipe.execute(raise_on_error=False))
        if not need:
            return replies
        if node is not None and (await self._node(keys)).name != node.name:
            # The slot moved to another primary meanwhile (a failover): writes redirected
            # there were sent again on other connections, which this WAIT does not cover.
            metrics.REDIS_WRITES_UNREPLICATED.inc()
            raise NotReplicated("the shard's slot moved to another primary during the write")
        acked = replies[-1]
        if isinstance(acked, Exception):  # e.g. WAIT refused by a replica
            metrics.REDIS_WRITES_UNREPLICATED.inc()
            raise NotReplicated(f"waiting for replicas failed: {acked}")
        if int(acked) < need:
            metrics.REDIS_WRITES_UNREPLICATED.inc()
            raise NotReplicated(
                f"only {acked} of the {need} Redis replicas required "
                f"(SCHEDULES_REDIS_MIN_REPLICAS_ACK) acknowledged the write within "
                f"{self.replication.timeout:g}s (SCHEDULES_REDIS_REPLICA_ACK_TIMEOUT); "
                "it is not confirmed as stored: try again"
            )
        return replies[:-2]

    async def _node(self, keys: Keys) -> Any:
        """The cluster node serving the shard's slot now."""
        cluster = cast(RedisCluster, self.redis)
        await cluster.initialize()  # learns the slots once (a no-op after that)
        return cluster.get_node_from_key(keys.replication)

    @contextlib.asynccontextmanager
    async def locked_ids(
        self,
        schedule_ids: Iterable[str],
        *,
        ttl: float = 10.0,
        wait: float = 10.0,
        prefix: str | None = None,
    ) -> AsyncIterator[None]:
        """Hold these schedule_ids for this caller alone (all or none) while it checks
        both tiers for them and stores them: two callers storing one id at once are
        serialised, so exactly one stores it. A lock outlives a crashed holder by `ttl`
        at most. ServiceUnavailable if another caller holds one for longer than `wait`.
        `prefix`: lock keys of another kind (default: Keys.id_lock_prefix).
        """
        ids = sorted(set(schedule_ids))
        if not ids:
            yield
            return
        # Per shard: its keys, the lock keys' prefix, and the ids as one msgpack blob (the
        # scripts name the keys: one argument instead of a few thousand to pack and parse).
        groups: list[tuple[Keys, str, bytes]]
        if prefix is None:  # each id's lock in its own shard, shards in order
            by_shard = self.by_shard(ids)
            groups = [
                (k, k.id_lock_prefix, msgpack.packb(by_shard[k], use_bin_type=False))
                for k in self.shards
                if k in by_shard
            ]
        else:  # another kind of lock: its prefix names the shard
            groups = [(self.keys, prefix, msgpack.packb(ids, use_bin_type=False))]
        token = os.urandom(8).hex()
        deadline = time.monotonic() + wait
        delay = 0.001
        while not await self._lock(groups, token, round(ttl * 1000)):
            if time.monotonic() >= deadline:
                raise ServiceUnavailable(
                    f"another caller has held the same lock ({ids[0]!r}) for {wait:.0f}s; try again"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        try:
            yield
        finally:
            # If Redis is gone now, the locks expire by themselves.
            with contextlib.suppress(Exception):
                await self._unlock(groups, token)

    async def _lock(self, groups: list[tuple[Keys, str, bytes]], token: str, ttl_ms: int) -> bool:
        """Lock every group's keys (one call per shard): all, or none (the groups taken
        before one that is busy are unlocked again)."""
        for i, (k, prefix, ids) in enumerate(groups):
            call = self.script("lock_ids", [prefix], [token, ttl_ms, ids])
            if not (await self.write(call, keys=k))[0]:
                await self._unlock(groups[:i], token)
                return False
        return True

    async def _unlock(self, groups: list[tuple[Keys, str, bytes]], token: str) -> None:
        for k, prefix, ids in groups:
            await self.write(self.script("unlock_ids", [prefix], [token, ids]), keys=k)

    async def schedule(self, events: Sequence[Event]) -> list[bool]:
        """Store events; True per event that was new, False for a known schedule_id.

        Large inputs go as several bounded script calls in one pipelined round trip per
        shard: each call is atomic, and a failure part-way leaves whole chunks stored,
        which a retry of the same events completes without duplicates (schedule_id is the
        key).
        """
        if not events:
            return []
        if len(self.shards) == 1:
            return await self._schedule(self.keys, events)
        groups: dict[Keys, list[int]] = {}
        for i, ev in enumerate(events):
            groups.setdefault(self.shard(ev.schedule_id), []).append(i)
        out = [False] * len(events)
        done = await asyncio.gather(
            *(self._schedule(k, [events[i] for i in idx]) for k, idx in groups.items())
        )
        for idx, new in zip(groups.values(), done, strict=True):
            for i, was_new in zip(idx, new, strict=True):
                out[i] = was_new
        return out

    async def _schedule(self, k: Keys, events: Sequence[Event]) -> list[bool]:
        blobs = [
            msgpack.packb(
                [
                    (
                        ev.schedule_id,
                        ev.scheduled_at,
                        ev.priority,
                        codec.encode(ev, self.compress_min_bytes),
                    )
                    for ev in events[start : start + SCHEDULE_CHUNK]
                ],
                use_bin_type=False,  # Redis's Lua cmsgpack predates the bin type
            )
            for start in range(0, len(events), SCHEDULE_CHUNK)
        ]
        keys, level_prefix, wakeup = self._schedule_args[k]
        results = await self.write(
            *(self.script("schedule", keys, [level_prefix, wakeup, b]) for b in blobs), keys=k
        )
        return [bool(x) for chunk in results for x in chunk]

    async def claim(
        self,
        limit: int,
        lease_seconds: float,
        rate_limits: Mapping[str, RateLimit] | None = None,
    ) -> ClaimedBatch:
        """Take up to `limit` events due by Redis's clock (priority order), CLAIM_CALL at
        most per atomic script call (see _claim), under one lease token, each lease ending
        `lease_seconds` after its call by that clock, leaving those an active
        pause covers (scheduler.hot.pause) and those over their topic's rate limit:
        `rate_limits` (SCHEDULES_TOPIC_RATE_LIMITS), overridden by the limits set at run
        time (scheduler.hot.ratelimit).

        With several shards one batch comes from one shard (its token is that shard's):
        the shards are tried in turn from one after the last call's start, and the first
        with events claimable now gives the batch, so every shard gets its turn.
        """
        n = len(self.shards)
        start = self._next_shard
        self._next_shard = (start + 1) % n
        share = 1.0 / n  # each shard's bucket refills at its share of a topic's limit
        total: ClaimedBatch | None = None
        for step in range(n):
            batch = await self._claim(
                self.shards[(start + step) % n], limit, lease_seconds, rate_limits, share
            )
            if total is None:
                total = batch
            else:
                total.blocked = total.blocked and batch.blocked
                waits = [w for w in (total.throttle_wait, batch.throttle_wait) if w is not None]
                total.throttle_wait = min(waits) if waits else None
                total.throttled += batch.throttled
                total.token, total.items, total.unreadable, total.now = (
                    batch.token,
                    batch.items,
                    batch.unreadable,
                    batch.now,
                )
            if batch.items or batch.unreadable:
                break
        assert total is not None
        return total

    async def _claim(
        self,
        k: Keys,
        limit: int,
        lease_seconds: float,
        rate_limits: Mapping[str, RateLimit] | None,
        share: float,
    ) -> ClaimedBatch:
        """Up to `limit` events from shard `k`, CLAIM_CALL at most per script call (each
        call blocks Redis, so each stays short): one call, and if that one came back full
        (a backlog), the calls for the rest in one round trip, continuing its lease token,
        so the batch is one batch to the executor (one token to ack) and one unit to the
        producer (a backlog goes out in large record batches)."""
        limit = min(limit, CLAIM_MAX)
        limits: list[Any] = []
        for topic, lim in (rate_limits or {}).items():
            burst = "" if lim.burst is None else repr(lim.burst * share)
            limits += (topic, repr(lim.rate * share), burst)

        def call(n: int, token: int) -> Command:
            args = [k.level_prefix, n, repr(lease_seconds), MAX_SKIP, k.throttled_prefix, token]
            return self.script("claim", k.script_keys, args + limits)

        first = min(limit, CLAIM_CALL)
        (raw,) = await self.write(call(first, 0), keys=k)
        wait = int(raw[2])
        batch = ClaimedBatch(
            int(raw[0]),
            [],
            float(raw[4]),
            blocked=bool(raw[1]),
            throttle_wait=None if wait < 0 else wait / 1_000_000,
            throttled=int(raw[3]),
        )
        _add_claimed(batch, raw)
        if batch.token and (len(raw) - 5) // 3 >= first and limit > first:
            rest = range(first, limit, CLAIM_CALL)
            calls = [call(min(CLAIM_CALL, limit - at), batch.token) for at in rest]
            for raw in await self.write(*calls, keys=k):
                wait = int(raw[2])
                if wait >= 0:
                    waits = [w for w in (batch.throttle_wait, wait / 1_000_000) if w is not None]
                    batch.throttle_wait = min(waits)
                batch.throttled += int(raw[3])
                batch.now = max(batch.now, float(raw[4]))  # due-ness was decided by then
                _add_claimed(batch, raw)
        return batch

    async def ack(self, token: int, schedule_ids: Iterable[str]) -> int:
        """Forget delivered events whose lease `token` still holds; returns how many."""
        n = 0
        for k, ids in self.by_shard(schedule_ids).items():
            # Bounded calls, sent in one round trip.
            acks = [
                self.script("ack", k.script_keys, [token, *ids[start : start + RELEASE_CHUNK]])
                for start in range(0, len(ids), RELEASE_CHUNK)
            ]
            n += sum(await self.write(*acks, keys=k))
        return n

    async def release(self, token: int, releases: Sequence[Release]) -> int:
        """Return claimed events to pending at new times (retries, unfired events), each
        its delay after Redis's clock."""
        groups: dict[Keys, list[Release]] = {}
        for r in releases:
            groups.setdefault(self.shard(r.schedule_id), []).append(r)
        n = 0
        for k, group in groups.items():
            for start in range(0, len(group), RELEASE_CHUNK):
                args: list[Any] = [k.level_prefix, token]
                for r in group[start : start + RELEASE_CHUNK]:
                    args += (r.schedule_id, repr(r.delay), 1 if r.count_attempt else 0)
                n += (await self.write(self.script("release", k.script_keys, args), keys=k))[0]
        return n

    async def reap(self, limit: int = REAP_LIMIT) -> int:
        """Return events whose lease expired by Redis's clock to pending; returns how
        many."""
        total = 0
        for k in self.shards:
            while True:
                reap = self.script("reap", k.script_keys, [k.level_prefix, limit])
                n = int((await self.write(reap, keys=k))[0])
                total += n
                if n < limit:
                    break
        return total

    async def cancel(self, schedule_id: str, *, at: float | None = None) -> CancelResult:
        """Cancel by id; with `at` (Unix s), only if Redis holds it for that time (its
        score, or its lease's): anything else under the id is left alone (UNKNOWN)."""
        k = self.shard(schedule_id)
        args = [k.level_prefix, schedule_id, k.throttled_prefix]
        (state,) = await self.write(
            self.script("cancel", k.script_keys, args + ([] if at is None else [repr(at)])),
            keys=k,
        )
        return CancelResult(_text(state))

    async def reschedule(self, ev: Event, *, add: bool = False) -> HotChange:
        """Give the pending event `ev.schedule_id` this new version (time, payload,
        priority) in one step; never one an executor holds. `add`: store it when Redis
        does not hold the id at all."""
        k = self.shard(ev.schedule_id)
        args = [
            k.level_prefix,
            k.wakeup,
            k.throttled_prefix,
            ev.schedule_id,
            repr(ev.scheduled_at),
            ev.priority,
            codec.encode(ev, self.compress_min_bytes),
            1 if add else 0,
        ]
        (state,) = await self.write(self.script("reschedule", k.script_keys, args), keys=k)
        return HotChange(_text(state))

    async def remove_orphans(self, schedule_ids: Sequence[str], level: str = "") -> int:
        """Remove entries of these ids that are neither pending nor in flight (debris,
        e.g. after the runbook's emergency ZREMRANGEBYSCORE). `level`: the priority set
        the ids were found in ('' = look each id's level up). Returns ids cleaned."""
        removed = 0
        for k, ids in self.by_shard(schedule_ids).items():
            args = [k.level_prefix, k.throttled_prefix, level, *ids]
            orphans = self.script("orphans", k.script_keys, args)
            removed += int((await self.write(orphans, keys=k))[0])
        return removed

    async def sweep_orphans(self) -> int:
        """Find debris (entries of ids neither pending nor in flight) by scanning the hot
        tier's hashes and priority sets in bounded steps, and remove it; returns ids
        cleaned."""
        removed = 0
        for k in self.shards:
            removed += await self._sweep_orphans(k)
        return removed

    async def _sweep_orphans(self, k: Keys) -> int:
        removed = 0
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hlen(k.payloads)
            pipe.zcard(k.scheduled)
            pipe.zcard(k.held)
            pipe.zcard(k.inflight)
            payloads, scheduled, held, inflight = await pipe.execute()
        pending = scheduled + held + sum((await self._throttled(k)).values())
        hashes = [k.attempts, k.priorities, k.leases]
        if payloads > pending + inflight:  # payloads are big: scan them only when some are extra
            hashes.insert(0, k.payloads)
        for name in hashes:
            cursor = 0
            while True:
                cursor, found = await self.redis.hscan(name, cursor, count=SCAN_COUNT)
                removed += await self.remove_orphans([_text(f) for f in found])
                if cursor == 0:
                    break
        for raw_level in await self.redis.zrange(k.levels, 0, -1):
            level = _text(raw_level)
            cursor = 0
            while True:
                cursor, members = await self.redis.zscan(
                    k.level_prefix + level, cursor, count=SCAN_COUNT
                )
                removed += await self.remove_orphans([_text(m) for m, _ in members], level)
                if cursor == 0:
                    break
        return removed

    async def unhold(self, limit: int = RELEASE_CHUNK, *, only_when_unpaused: bool = False) -> int:
        """Put up to `limit` events a pause held aside back into `scheduled` (per shard);
        returns how many. `only_when_unpaused`: do nothing while any pause is active."""
        flag = 1 if only_when_unpaused else 0
        moved = 0
        for k in self.shards:
            unhold = self.script("unhold", k.script_keys, [k.level_prefix, limit, flag])
            moved += int((await self.write(unhold, keys=k))[0])
        return moved

    async def held(self) -> int:
        """Events a pause holds aside, in every shard."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for k in self.shards:
                pipe.zcard(k.held)
            return sum(int(n) for n in await pipe.execute())

    async def publish_wakeups(self, reason: str) -> None:
        """Wake every executor for every shard (a pause ended, a limit changed)."""
        for k in self.shards:
            await self.redis.publish(k.wakeup, reason)

    async def write_each(self, command: Callable[[Keys], Command]) -> list[Any]:
        """`command(keys)` written to each shard (state every claim must see atomically:
        pauses, run-time rate limits); its reply per shard."""
        return [(await self.write(command(k), keys=k))[0] for k in self.shards]

    # --- replays of dead letters (scheduler.deadletters) ---------------------------------

    async def replayed(self, replay_keys: Sequence[str]) -> dict[str, str]:
        """The schedule_id each of these dead letters was replayed as, if it was."""
        if not replay_keys:
            return {}
        prefix = self.keys.replayed_prefix
        values = await self.redis.mget([prefix + k for k in replay_keys])
        return {
            k: _text(v)
            for k, v in zip(replay_keys, values, strict=True)
            if v is not None and v != REPLAYING
        }

    async def begin_replays(self, replay_keys: Sequence[str], ttl: float) -> list[bool]:
        """Mark these dead letters as being replayed (SET NX, with a short TTL so that a
        caller that dies does not block them for long); True for each that was free."""
        prefix, ms = self.keys.replayed_prefix, max(1, round(ttl * 1000))
        replies = await self.write(
            *(("SET", prefix + k, REPLAYING, "NX", "PX", ms) for k in replay_keys)
        )
        return [bool(r) for r in replies]

    async def end_replays(self, done: dict[str, str | None], ttl: float) -> None:
        """Record each replay's schedule_id for `ttl` seconds, or (None: nothing was
        scheduled) free the dead letter again."""
        if not done:
            return
        prefix, ms = self.keys.replayed_prefix, max(1, round(ttl * 1000))
        await self.write(
            *(
                ("DEL", prefix + k) if sid is None else ("SET", prefix + k, sid, "PX", ms)
                for k, sid in done.items()
            )
        )

    async def due_in(self) -> float | None:
        """Seconds until the earliest pending event of any shard is due by Redis's clock
        (<= 0: due), or None when there is none."""
        due_in = self._scripts["due_in"]  # a read: no WAIT, so not through write()
        waits = [await due_in(keys=k.script_keys, args=[]) for k in self.shards]
        found = [float(w) for w in waits if w is not None]
        return min(found) if found else None

    async def pubsub(self) -> Any:
        """A Pub/Sub client for the wake-up channels (a cluster's needs its slots known
        first: redis-py's ClusterPubSub fails to subscribe otherwise)."""
        if isinstance(self.redis, RedisCluster):
            await self.redis.initialize()
        return self.redis.pubsub()

    async def pending_after(self, after: float, limit: int) -> list[tuple[str, float]]:
        """Up to `limit` pending events (neither held nor in flight) whose time in Redis
        is later than `after` (Unix s), earliest first: (schedule_id, that time)."""
        found: list[tuple[str, float]] = []
        for k in self.shards:
            raw = await self.redis.zrangebyscore(
                k.scheduled, f"({after!r}", "+inf", 0, limit, withscores=True
            )
            pairs = cast(list[tuple[bytes, float]], raw)
            found += [(_text(member), float(score)) for member, score in pairs]
        if len(self.shards) > 1:
            found.sort(key=lambda p: (p[1], p[0]))
        return found[:limit]

    async def throttled(self) -> dict[str, int]:
        """Due events waiting for their topic's rate limit, per topic (those with any)."""
        out: dict[str, int] = {}
        for k in self.shards:
            for topic, n in (await self._throttled(k)).items():
                out[topic] = out.get(topic, 0) + n
        return out

    async def _throttled(self, k: Keys) -> dict[str, int]:
        topics = [_text(t) for t in await self.redis.zrange(k.throttled_topics, 0, -1)]
        if not topics:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for topic in topics:
                pipe.zcard(k.throttled_prefix + topic)
            sizes = await pipe.execute()
        return {t: int(n) for t, n in zip(topics, sizes, strict=True) if n}

    async def counts(self) -> dict[str, int]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for k in self.shards:
                pipe.zcard(k.scheduled)
                pipe.zcard(k.held)
                pipe.zcard(k.inflight)
            replies = [int(n) for n in await pipe.execute()]
        pending, held, inflight = sum(replies[0::3]), sum(replies[1::3]), sum(replies[2::3])
        throttled = sum((await self.throttled()).values())
        # `pending` counts held (paused) and throttled events too: they are pending, just
        # not claimable now.
        return {
            "pending": pending + held + throttled,
            "held": held,
            "in_flight": inflight,
        }

    async def get(self, schedule_id: str) -> tuple[str, Event] | None:
        """The stored event and its state, if in the hot tier: 'pending', 'in_flight',
        'held' (pending, due, and held back by a pause) or 'throttled' (pending, due, and
        waiting for its topic's rate limit)."""
        k = self.shard(schedule_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(k.payloads, schedule_id)
            pipe.zscore(k.inflight, schedule_id)
            pipe.zscore(k.held, schedule_id)
            payload, lease, held = await pipe.execute()
        if payload is None:
            return None
        ev = codec.decode(schedule_id, payload)
        state = "in_flight" if lease is not None else "held" if held is not None else "pending"
        throttled_key = k.throttled_prefix + ev.topic
        if state == "pending" and await self.redis.zscore(throttled_key, schedule_id) is not None:
            state = "throttled"
        return state, ev

    async def events(self, schedule_ids: Sequence[str]) -> dict[str, Event]:
        """The events Redis holds (pending or in flight) under these ids."""
        out: dict[str, Event] = {}
        for k, ids in self.by_shard(schedule_ids).items():
            payloads = await self.redis.hmget(k.payloads, ids)
            out.update(
                (sid, codec.decode(sid, p))
                for sid, p in zip(ids, payloads, strict=True)
                if isinstance(p, bytes)  # the hot tier's client never decodes replies
            )
        return out

    # --- listing (scheduler.listing: GET /api/v1/schedules without the cold tier) ----------

    async def pending_window(
        self, after: Key, until_us: int | None, n: int
    ) -> list[tuple[int, str, str]]:
        """Up to `n` pending events (waiting, held by a pause or throttled by a rate limit)
        whose key (their time in Redis, which is a retry's time after a failed attempt;
        then the schedule_id) comes after `after`, with a time before `until_us`; in key
        order: (µs, id, state)."""
        found = [
            (us, sid, state)
            for name, state in await self._pending_sets()
            for us, sid in await self._zset_after(name, after, until_us, n)
        ]
        found.sort()
        return found[:n]

    async def _pending_sets(self) -> list[tuple[str, str]]:
        """The sorted sets of pending events and what they mean: waiting, held by a pause,
        and each topic's events waiting for its rate limit."""
        sets: list[tuple[str, str]] = []
        for k in self.shards:
            topics = [_text(t) for t in await self.redis.zrange(k.throttled_topics, 0, -1)]
            sets += [
                (k.scheduled, "pending"),
                (k.held, "held"),
                *((k.throttled_prefix + topic, "throttled") for topic in topics),
            ]
        return sets

    async def _zset_after(self, name: str, after: Key, until_us: int | None, n: int) -> list[Key]:
        """The first `n` members of a sorted set by (score in µs, member) after `after`.
        Members with one score are in member order in Redis, so the ones at the cursor's
        own time are skipped by offset (a batch of events shares one time)."""
        low = repr((after[0] - 1) / 1_000_000)
        high = "+inf" if until_us is None else f"({until_us / 1_000_000!r}"
        out: list[Key] = []
        offset = 0
        while len(out) < n:
            raw = await self.redis.zrangebyscore(name, low, high, offset, n, withscores=True)
            pairs = cast(list[tuple[bytes, float]], raw)
            out += [
                key
                for key in ((_us(score), _text(member)) for member, score in pairs)
                if key > after
            ]
            if len(pairs) < n:
                break
            offset += len(pairs)
        return out[:n]

    async def in_flight_keys(self, cap: int) -> tuple[list[Key], bool]:
        """The keys (scheduled time when claimed, schedule_id) of up to `cap` claimed
        events, in key order, and whether that is all of them."""
        out: list[Key] = []
        complete = True
        for k in self.shards:
            cursor = 0
            while True:
                cursor, found = await self.redis.hscan(k.leases, cursor, count=SCAN_COUNT)
                for field_name, lease in cast(dict[bytes, bytes], found).items():
                    parts = _text(lease).split("|")
                    with contextlib.suppress(IndexError, ValueError):
                        out.append((_us(parts[1]), _text(field_name)))
                if cursor == 0 or len(out) >= cap:
                    break
            if cursor != 0:
                complete = False
                break
        out.sort()
        return out[:cap], complete and len(out) <= cap

    async def count_window(self, from_us: int | None, until_us: int | None) -> int:
        """How many pending events (waiting, held by a pause, throttled by a rate limit)
        have a time in Redis in [from_us, until_us)."""
        low = "-inf" if from_us is None else repr(from_us / 1_000_000)
        high = "+inf" if until_us is None else f"({until_us / 1_000_000!r}"
        sets = await self._pending_sets()
        async with self.redis.pipeline(transaction=False) as pipe:
            for name, _ in sets:
                pipe.zcount(name, low, high)
            counts = await pipe.execute()
        return sum(int(n) for n in counts)

    async def states(self, schedule_ids: Sequence[str]) -> dict[str, HotState]:
        """What Redis holds now under these ids (left out: unknown, or a payload this
        version cannot read), in one pipelined round trip."""
        if not schedule_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid in schedule_ids:
                k = self.shard(sid)
                pipe.hget(k.payloads, sid)
                pipe.zscore(k.inflight, sid)
                pipe.zscore(k.held, sid)
                pipe.hget(k.attempts, sid)
            replies = await pipe.execute()
        out: dict[str, HotState] = {}
        for i, sid in enumerate(schedule_ids):
            payload, lease, held, attempts = replies[4 * i : 4 * i + 4]
            if payload is None:
                continue
            try:
                ev = codec.decode(sid, payload)
            except SchedulerError:
                continue
            state = "in_flight" if lease is not None else "held" if held is not None else "pending"
            out[sid] = HotState(state, ev, int(attempts or 0))
        waiting = [sid for sid, h in out.items() if h.state == "pending"]
        if waiting:  # or waiting for its topic's rate limit
            async with self.redis.pipeline(transaction=False) as pipe:
                for sid in waiting:
                    pipe.zscore(self.shard(sid).throttled_prefix + out[sid].event.topic, sid)
                found = await pipe.execute()
            for sid, score in zip(waiting, found, strict=True):
                if score is not None:
                    h = out[sid]
                    out[sid] = HotState("throttled", h.event, h.attempts)
        return out
