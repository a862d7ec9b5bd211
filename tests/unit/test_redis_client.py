"""Which Redis client the settings build: the single REDIS_URL, or the primary that the
Sentinels name, with REDIS_URL's database and credentials."""

from __future__ import annotations

import pytest
from redis.asyncio.sentinel import SentinelConnectionPool

from scheduler.errors import ConfigError
from scheduler.hot import client
from scheduler.settings import Settings, load_settings, sentinel_addresses


def test_sentinel_addresses_are_host_port_pairs() -> None:
    assert sentinel_addresses("10.0.0.1:26379, sentinel-b:26380,[::1]:5000") == [
        ("10.0.0.1", 26379),
        ("sentinel-b", 26380),
        ("::1", 5000),
    ]


@pytest.mark.parametrize("value", ["host", "host:", ":26379", "host:0", "host:70000", "a:1,,b:2"])
def test_a_bad_sentinel_list_names_the_setting_and_the_entry(value: str) -> None:
    with pytest.raises(ConfigError, match=r"SCHEDULES_REDIS_SENTINELS: .*is not host:port"):
        load_settings(SCHEDULES_REDIS_SENTINELS=value)


def test_an_empty_sentinel_list_is_the_single_url() -> None:
    s = load_settings(SCHEDULES_REDIS_SENTINELS="  ")
    assert s.redis_sentinels is None
    assert client.describe(s) == "Redis at redis://127.0.0.1:6379/0"


def test_min_replicas_ack_is_off_by_default_and_bounded() -> None:
    s = Settings()
    assert (s.redis_min_replicas_ack, s.redis_replica_ack_timeout) == (0, 1.0)
    with pytest.raises(ConfigError, match="SCHEDULES_REDIS_MIN_REPLICAS_ACK"):
        load_settings(SCHEDULES_REDIS_MIN_REPLICAS_ACK="-1")
    with pytest.raises(ConfigError, match="SCHEDULES_REDIS_REPLICA_ACK_TIMEOUT"):
        load_settings(SCHEDULES_REDIS_REPLICA_ACK_TIMEOUT="0")


def test_descriptions_never_show_a_password() -> None:
    s = Settings(redis_url="redis://user:secret@cache:6380/2")
    assert client.describe(s) == "Redis at redis://***@cache:6380/2"
    s = Settings(redis_sentinels="s1:26379,s2:26379", redis_sentinel_master="hot")
    assert client.describe(s) == "the Redis primary 'hot' of the Sentinels at s1:26379,s2:26379"


async def test_the_single_url_builds_a_plain_client() -> None:
    r = client.connect(Settings(redis_url="redis://cache:6380/3"))
    kwargs = r.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("cache", 6380, 3)
    assert not isinstance(r.connection_pool, SentinelConnectionPool)
    await r.aclose()


async def test_sentinel_mode_asks_the_sentinels_with_the_urls_database_and_password() -> None:
    s = Settings(
        redis_url="redis://app:secret@ignored:1/4",
        redis_sentinels="s1:26379,s2:26380",
        redis_sentinel_master="hot",
        redis_sentinel_password="sentinel-secret",
    )
    r = client.connect(s, socket_timeout=2.0)
    pool = r.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "hot" and pool.is_master
    kwargs = pool.connection_kwargs
    assert (kwargs["db"], kwargs["username"], kwargs["password"]) == (4, "app", "secret")
    assert kwargs["socket_timeout"] == 2.0
    assert "host" not in kwargs
    sentinels = pool.sentinel_manager.sentinels
    assert [
        (c.connection_pool.connection_kwargs["host"], c.connection_pool.connection_kwargs["port"])
        for c in sentinels
    ] == [("s1", 26379), ("s2", 26380)]
    assert all(
        c.connection_pool.connection_kwargs["password"] == "sentinel-secret" for c in sentinels
    )
    await r.aclose()
    blocking = client.connect_blocking(s)
    assert blocking.connection_pool.service_name == "hot"  # type: ignore[attr-defined]
    blocking.close()
