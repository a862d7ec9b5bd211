"""What `dev` tells other local processes (cli.dev.dev_environment) and the file it
writes for them, without starting anything (tests/test_dev.py runs the real `dev`)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from cli.dev import dev_environment, write_env_file
from devstack.http_shim import HttpShim
from scheduler.settings import Settings

BASE: dict[str, Any] = {
    "redis_url": "redis://127.0.0.1:6379/0",
    "kafka_bootstrap_servers": "127.0.0.1:9092",
    "temporal_address": "127.0.0.1:7233",
    "cold_tier_enabled": True,  # tests/conftest.py turns it off in the environment
}


def test_embedded_clickhouse_is_reached_through_dev_s_endpoint(tmp_path: Path) -> None:
    shim = HttpShim(tmp_path / "ch", port=0)  # bound, never served
    try:
        settings = Settings(**BASE, kafka_idempotent_producer=False, clickhouse_database="app")
        env = dev_environment(settings, shim)
    finally:
        shim.close()
    assert env == {
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        "TEMPORAL_ADDRESS": "127.0.0.1:7233",
        "KAFKA_IDEMPOTENT_PRODUCER": "false",
        "CLICKHOUSE_URL": f"{shim.url}/app",
        "SCHEDULES_METRICS_PORT": "0",
        "SCHEDULES_API_URL": "http://127.0.0.1:8000",
    }


def test_a_clickhouse_server_and_shared_settings_are_passed_on() -> None:
    settings = Settings(
        **BASE,
        clickhouse_url="http://user:pw@ch.example:8123/sched",
        redis_key_prefix="team-a:",
        temporal_task_queue="team-a",
        api_host="0.0.0.0",
        api_port=8080,
    )
    env = dev_environment(settings, None)
    assert env["CLICKHOUSE_URL"] == "http://user:pw@ch.example:8123/sched"
    assert env["SCHEDULES_REDIS_KEY_PREFIX"] == "team-a:"
    assert env["SCHEDULES_TEMPORAL_TASK_QUEUE"] == "team-a"
    assert env["SCHEDULES_API_URL"] == "http://127.0.0.1:8080"
    assert "KAFKA_IDEMPOTENT_PRODUCER" not in env  # a real broker keeps idempotence


def test_sentinel_mode_and_replica_acks_are_passed_on() -> None:
    settings = Settings(
        **BASE,
        redis_sentinels="10.0.0.1:26379,10.0.0.2:26379",
        redis_sentinel_master="hot",
        redis_min_replicas_ack=1,
    )
    env = dev_environment(settings, None)
    assert env["SCHEDULES_REDIS_SENTINELS"] == "10.0.0.1:26379,10.0.0.2:26379"
    assert env["SCHEDULES_REDIS_SENTINEL_MASTER"] == "hot"
    assert env["SCHEDULES_REDIS_MIN_REPLICAS_ACK"] == "1"
    assert "SCHEDULES_REDIS_SENTINEL_PASSWORD" not in env  # unset stays unset


def test_without_the_cold_tier_other_processes_go_without_it_too() -> None:
    env = dev_environment(Settings(**{**BASE, "cold_tier_enabled": False}), None)
    assert env["SCHEDULES_COLD_TIER_ENABLED"] == "false"
    assert "CLICKHOUSE_URL" not in env


def test_the_env_file_loads_in_a_shell_exactly(tmp_path: Path) -> None:
    env = {"REDIS_URL": "redis://:p w'$x@127.0.0.1:6379/0", "SCHEDULES_REDIS_KEY_PREFIX": "a b:"}
    path = tmp_path / ".dev" / "env"
    write_env_file(path, env)
    script = (
        f'set -a; . {path}; set +a; printf \'%s\\n\' "$REDIS_URL" "$SCHEDULES_REDIS_KEY_PREFIX"'
    )
    shell = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert shell.stdout.splitlines() == list(env.values())
    assert not list(path.parent.glob("*.tmp"))
