"""Every Redis client of the product is built here, from the settings: the Redis at
REDIS_URL, or (SCHEDULES_REDIS_SENTINELS set) the primary that Redis Sentinels name, or
(SCHEDULES_REDIS_CLUSTER) the Redis Cluster one of whose nodes REDIS_URL names.

    redis = connect(settings)                  # redis.asyncio.Redis: roles, API, CLI
    blocking = connect_blocking(settings, socket_timeout=1.0)   # the scrape's reads

In Sentinel mode each new connection asks the Sentinels where the primary is, so a
client follows a failover by itself: a connection to a primary that died fails
(ConnectionError), one to a primary demoted to replica answers READONLY, which the
Sentinel connection turns into a ConnectionError and a reconnect; the loops' `Outage`
and the API's 503 treat both as "Redis unavailable" until the new primary answers.
REDIS_URL still gives the database number, user, password and TLS (rediss://); its
host and port are then ignored.

In cluster mode the client (redis-py's RedisCluster) learns the slots from the node it
is given, sends each command to the primary of its key's slot and, after a failover
(MOVED, or a connection refused), asks the cluster again. Every hot-tier script call
stays in one slot (one shard's hash tag, scheduler.hot.keys).
"""

from __future__ import annotations

from typing import Any, cast

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel
import redis.cluster
import redis.sentinel
from redis.asyncio.connection import parse_url

from scheduler.settings import Settings, sentinel_addresses

# How long a question to one Sentinel may take: a dead Sentinel must not hang a reconnect.
SENTINEL_TIMEOUT = 1.0


def describe(settings: Settings) -> str:
    """The hot tier's Redis in words, for messages (no password)."""
    if settings.redis_sentinels:
        return (
            f"the Redis primary {settings.redis_sentinel_master!r} of the Sentinels at "
            f"{settings.redis_sentinels}"
        )
    url = settings.redis_url
    if "@" in url:
        scheme, _, rest = url.partition("://")
        url = f"{scheme}://***@{rest.rpartition('@')[2]}"
    if settings.redis_cluster:
        return f"the Redis Cluster of the node at {url}"
    return f"Redis at {url}"


def _server_kwargs(settings: Settings) -> dict[str, Any]:
    """What REDIS_URL says of the server beside where it is (Sentinel mode)."""
    kwargs: dict[str, Any] = dict(parse_url(settings.redis_url))
    kwargs.pop("host", None)
    kwargs.pop("port", None)
    kwargs.pop("path", None)
    if kwargs.pop("connection_class", None) is not None and settings.redis_url.startswith(
        "rediss://"
    ):
        kwargs["ssl"] = True
    return kwargs


def _sentinel_kwargs(settings: Settings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "socket_timeout": SENTINEL_TIMEOUT,
        "socket_connect_timeout": SENTINEL_TIMEOUT,
    }
    if settings.redis_sentinel_password:
        kwargs["password"] = settings.redis_sentinel_password
    return kwargs


class _SentinelRedis(redis.asyncio.Redis):
    """The primary's client; closing it also closes its clients of the Sentinels."""

    sentinels: redis.asyncio.sentinel.Sentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        if self.sentinels is not None:
            sentinel, self.sentinels = self.sentinels, None
            await sentinel.aclose()


class _BlockingSentinelRedis(redis.Redis):
    sentinels: redis.sentinel.Sentinel | None = None

    def close(self) -> None:
        super().close()
        if self.sentinels is not None:
            sentinel, self.sentinels = self.sentinels, None
            sentinel.close()


def connect(settings: Settings, **kwargs: Any) -> redis.asyncio.Redis:
    """An asyncio client of the hot tier's Redis (not connected yet: the first command
    connects). `kwargs`: more connection options (socket_timeout, retry, ...)."""
    if settings.redis_cluster:
        kwargs.pop("max_connections", None)  # per node in a cluster: keep its default
        return cast(
            redis.asyncio.Redis,
            redis.asyncio.cluster.RedisCluster.from_url(settings.redis_url, **kwargs),
        )
    if not settings.redis_sentinels:
        return redis.asyncio.Redis.from_url(settings.redis_url, **kwargs)
    sentinel = redis.asyncio.sentinel.Sentinel(  # type: ignore[no-untyped-call]
        sentinel_addresses(settings.redis_sentinels),
        sentinel_kwargs=_sentinel_kwargs(settings),
        **_server_kwargs(settings),
    )
    client = cast(
        _SentinelRedis,
        sentinel.master_for(settings.redis_sentinel_master, redis_class=_SentinelRedis, **kwargs),
    )
    client.sentinels = sentinel
    return client


def connect_blocking(settings: Settings, **kwargs: Any) -> redis.Redis:
    """A blocking client of the same Redis, for threads without an event loop."""
    if settings.redis_cluster:
        kwargs.pop("max_connections", None)
        return cast(redis.Redis, redis.cluster.RedisCluster.from_url(settings.redis_url, **kwargs))
    if not settings.redis_sentinels:
        return redis.Redis.from_url(settings.redis_url, **kwargs)
    sentinel = redis.sentinel.Sentinel(  # type: ignore[no-untyped-call]
        sentinel_addresses(settings.redis_sentinels),
        sentinel_kwargs=_sentinel_kwargs(settings),
        **_server_kwargs(settings),
    )
    client = cast(
        _BlockingSentinelRedis,
        sentinel.master_for(  # type: ignore[no-untyped-call]
            settings.redis_sentinel_master, redis_class=_BlockingSentinelRedis, **kwargs
        ),
    )
    client.sentinels = sentinel
    return client
