"""Every Redis key the hot tier uses, in one place.

`scheduled_events` is the runbook's key: a sorted set, member = schedule_id, score =
scheduled_at in Unix seconds. Operators read and (in emergencies) trim it with redis-cli,
so its name and score must not change. The other keys share its name as a prefix so
`redis-cli keys "*scheduled*"` lists them all.

A prefix (SCHEDULES_REDIS_KEY_PREFIX) isolates deployments and tests sharing one Redis.

Shards (SCHEDULES_REDIS_SHARDS = N). With N = 1 (the default) the names are exactly the
ones above. With N > 1 shard i's keys carry the hash tag `{scheduled_events:i}`:
`<prefix>{scheduled_events:i}`, `<prefix>{scheduled_events:i}:payload`, ... Every key a
script touches, also those it builds from a prefix argument (the per-priority and
per-topic sets, the id locks), is one shard's, so each script call stays within one
Redis Cluster slot. An event lives in shard `crc32(schedule_id) % N` (`shard_of`).
Per shard: the events and their indexes, the fence, the pauses and the run-time rate
limits (written to every shard, so that each claim sees them atomically) and the rate
buckets (each holds a 1/N share of a topic's limit). In shard 0 only: recurring
definitions and dead-letter replay marks. Untagged, beside them all: `shard_count`, the
N the data was stored with (roles refuse to start with another N).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass


def shard_of(schedule_id: str, shards: int) -> int:
    """The shard that holds `schedule_id` among `shards` (stable across processes and
    versions: CRC-32 of its UTF-8 bytes)."""
    if shards <= 1:
        return 0
    return zlib.crc32(schedule_id.encode()) % shards


def shard_keys(prefix: str, shards: int) -> list[Keys]:
    """The keys of each of `shards` shards (one shard: today's untagged names)."""
    if shards <= 1:
        return [Keys(prefix)]
    return [Keys(prefix, i) for i in range(shards)]


def shard_count_key(prefix: str) -> str:
    """STRING: the number of shards the hot tier's data is stored in (absent: 1)."""
    return f"{prefix}scheduled_events:shards"


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = ""
    shard: int | None = None  # None: the single, untagged shard

    def _k(self, name: str) -> str:
        if self.shard is None:
            return f"{self.prefix}scheduled_events{name}"
        return f"{self.prefix}{{scheduled_events:{self.shard}}}{name}"

    @property
    def scheduled(self) -> str:
        """ZSET schedule_id -> scheduled_at (Unix s): every pending, unclaimed event."""
        return self._k("")

    @property
    def payloads(self) -> str:
        """HASH schedule_id -> compact payload (scheduler.codec), pending or in flight."""
        return self._k(":payload")

    @property
    def priorities(self) -> str:
        """HASH schedule_id -> priority, only for pending events whose priority is not 0."""
        return self._k(":priority")

    @property
    def levels(self) -> str:
        """ZSET of the non-zero priorities that have pending events (member = score)."""
        return self._k(":levels")

    @property
    def level_prefix(self) -> str:
        """Prefix of the per-priority ZSETs `...:level:<priority>` (schedule_id -> time)."""
        return self._k(":level:")

    @property
    def replication(self) -> str:
        """STRING counter incremented by every write made while waiting for replicas
        (SCHEDULES_REDIS_MIN_REPLICAS_ACK), so that its WAIT covers every earlier write,
        also those another connection made (e.g. the first try of a retried write)."""
        return self._k(":replication")

    @property
    def inflight(self) -> str:
        """ZSET schedule_id -> lease deadline (Unix s) of claimed events."""
        return self._k(":inflight")

    @property
    def leases(self) -> str:
        """HASH schedule_id -> "token|scheduled_at|priority" of claimed events."""
        return self._k(":lease")

    @property
    def attempts(self) -> str:
        """HASH schedule_id -> failed delivery attempts so far (absent = 0)."""
        return self._k(":attempts")

    @property
    def fence(self) -> str:
        """Counter handing out fencing tokens, one per claimed batch."""
        return self._k(":fence")

    @property
    def held(self) -> str:
        """ZSET schedule_id -> scheduled_at of due events a topic or priority pause holds
        back (moved aside by the claim script so they do not block the head of
        `scheduled`); still pending: resuming puts them back. Their priority stays in
        `priorities`."""
        return self._k(":held")

    @property
    def paused(self) -> str:
        """HASH of active pauses: `all`, `priority` or `topic:<name>` -> JSON
        {"since", "reason"[, "below"]} (scheduler.hot.pause)."""
        return self._k(":paused")

    @property
    def rate_limits(self) -> str:
        """HASH topic -> JSON {"rate", "burst", "since"}: limits set at run time
        (scheduler.hot.ratelimit); they override SCHEDULES_TOPIC_RATE_LIMITS."""
        return self._k(":rate_limits")

    @property
    def rate_buckets(self) -> str:
        """HASH topic -> "tokens time" (time: Redis's clock, Unix s): each limited topic's
        token bucket as claim.lua last left it."""
        return self._k(":rate_buckets")

    @property
    def throttled_topics(self) -> str:
        """ZSET of the topics that have events waiting for their rate limit (member =
        topic, score 0)."""
        return self._k(":throttled_topics")

    @property
    def throttled_prefix(self) -> str:
        """Prefix of the per-topic ZSETs `...:throttled:<topic>` (schedule_id ->
        scheduled_at): due events of a rate-limited topic waiting for a token, fired in
        this order as the limit allows. Still pending; their priority stays in
        `priorities`."""
        return self._k(":throttled:")

    @property
    def id_lock_prefix(self) -> str:
        """Prefix of the STRING keys `...:idlock:<schedule_id>`: held for a moment (with
        a TTL) while one caller checks both tiers for that id and stores it."""
        return self._k(":idlock:")

    @property
    def recurring(self) -> str:
        """HASH recurring_id -> a recurring schedule's definition (JSON, scheduler.recurring)."""
        return self._k(":recurring")

    @property
    def recurring_versions(self) -> str:
        """HASH recurring_id -> its version, compared and set by recurring_put.lua."""
        return self._k(":recurring:version")

    @property
    def recurring_generations(self) -> str:
        """HASH recurring_id -> the highest generation it ever had, kept after a delete:
        a definition created again starts above it, so its occurrences' ids are new."""
        return self._k(":recurring:generation")

    @property
    def recurring_marks(self) -> str:
        """HASH recurring_id -> "<generation> <unix s>": up to when that generation's
        occurrences are materialised."""
        return self._k(":recurring:mark")

    @property
    def recurring_occurrences_prefix(self) -> str:
        """Prefix of the ZSETs `...:recurring:occ:<recurring_id>` (occurrence schedule_id
        -> scheduled_at) of the occurrences materialised and not yet pruned."""
        return self._k(":recurring:occ:")

    @property
    def recurring_lock_prefix(self) -> str:
        """Prefix of the STRING keys `...:recurring:lock:<recurring_id>`: held (with a
        TTL) while one caller changes that definition's occurrences."""
        return self._k(":recurring:lock:")

    @property
    def replayed_prefix(self) -> str:
        """Prefix of the STRING keys `...:replayed:<dead letter>`: the schedule_id a dead
        letter was replayed as (with a TTL), so that replaying it again schedules
        nothing (scheduler.deadletters)."""
        return self._k(":replayed:")

    @property
    def script_keys(self) -> list[str]:
        """The KEYS every hot-tier Lua script takes, in this order."""
        return [
            self.scheduled,
            self.payloads,
            self.priorities,
            self.levels,
            self.inflight,
            self.leases,
            self.attempts,
            self.fence,
            self.held,
            self.paused,
            self.rate_limits,
            self.rate_buckets,
            self.throttled_topics,
        ]

    @property
    def wakeup(self) -> str:
        """Pub/Sub channel: published when an event earlier than the head arrives (one
        per shard: its name says which shard to look at)."""
        return self._k(":wakeup")
