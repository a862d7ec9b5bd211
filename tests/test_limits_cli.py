"""`hybrid-scheduler limits list|set|clear` and the rate limits in `stats`, each run as its
own process against one real product: `serve --role api --role executor` on the session's
Redis and Kafka (Redis only), with a limit in SCHEDULES_TOPIC_RATE_LIMITS and an API token."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import isolated_settings, run_cli, serving_api

from devstack.services import ManagedProcess, free_port

TOKEN = "limits-secret"


@dataclass
class Product:
    url: str
    env: dict[str, str]  # an operator's shell: the API's URL and token
    topic: str  # limited at run time by the tests
    configured: str  # limited by SCHEDULES_TOPIC_RATE_LIMITS

    def schedule(self, topic: str, n: int) -> None:
        events = [{"topic": topic, "body": str(i), "delay_seconds": 0} for i in range(n)]
        reply = httpx.post(
            f"{self.url}/api/v1/schedules/batch",
            json={"events": events},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert reply.json()["accepted"] == n, reply.text


def cli(product: Product, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(product.env, *args, timeout=60)


def ok(product: Product, *args: str) -> str:
    done = cli(product, *args)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def stats(product: Product) -> dict:  # type: ignore[type-arg]
    return json.loads(ok(product, "stats", "--json"))


@pytest.fixture(scope="module")
def product(
    redis_server: ManagedProcess, kafka_broker: ManagedProcess, tmp_path_factory
) -> Iterator[Product]:
    uid = uuid.uuid4().hex[:10]
    settings = isolated_settings(redis_server, kafka_broker, uid)
    topic, configured = f"orders-{uid}", f"emails-{uid}"
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": settings.redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_IDEMPOTENT_PRODUCER": "false",
        "KAFKA_DELAYED_TOPIC_NAME": settings.delayed_topic,
        "KAFKA_DEAD_LETTER_TOPIC_NAME": settings.dead_letter_topic,
        "SCHEDULES_REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "SCHEDULES_API_PORT": str(port),
        "SCHEDULES_API_TOKEN": TOKEN,
        "SCHEDULES_TOPIC_RATE_LIMITS": f"{configured}=50:100",
        "SCHEDULES_REDIS_PROCESSING_INTERVAL": "0.5",
        "SCHEDULES_LOG_LEVEL": "WARNING",
    }
    log: Path = tmp_path_factory.mktemp("limits") / "serve.log"
    with serving_api(env, ["api", "executor"], log) as url:
        yield Product(url, {**env, "SCHEDULES_API_URL": url}, topic, configured)


def wait_for(check: object, timeout: float = 20.0) -> object:
    """Poll `check()` until it returns something truthy (or the deadline); return it."""
    deadline = time.monotonic() + timeout
    while not (result := check()) and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.1)
    return result


def test_list_set_stats_and_clear(product: Product) -> None:
    listed = ok(product, "limits", "list")
    assert product.configured in listed and "settings" in listed and "50/s" in listed

    out = ok(product, "limits", "set", product.topic, "1", "--burst", "1")
    assert f"{product.topic}: at most 1/s, burst 1, set at run time" in out
    product.schedule(product.topic, 20)
    # The executor process obeys it: most of the 20 wait for tokens (one a second).
    waiting = wait_for(lambda: stats(product)["rate_limits"]["throttled"] >= 5)
    assert waiting, stats(product)
    table = ok(product, "stats")
    assert "rate limits" in table and "2 topics" in table
    assert "events waiting" in table and product.topic in table

    answer = json.loads(ok(product, "limits", "list", "--json"))
    mine = next(x for x in answer["limits"] if x["topic"] == product.topic)
    assert (mine["events_per_second"], mine["burst"], mine["source"]) == (1.0, 1.0, "runtime")

    out = ok(product, "limits", "clear", product.topic)
    assert f"cleared {product.topic}'s rate limit; it has none now" in out
    assert wait_for(lambda: stats(product)["redis_pending"] == 0), stats(product)
    again = cli(product, "limits", "clear", product.topic)
    assert again.returncode == 1 and "no rate limit set at run time" in again.stderr


def test_overriding_a_setting_and_clearing_back_to_it(product: Product) -> None:
    out = ok(product, "limits", "set", product.configured, "500")
    assert "at most 500/s, burst 500" in out
    listed = ok(product, "limits", "list")
    assert "setting: 50/s, burst 100" in listed
    out = ok(product, "limits", "clear", product.configured)
    assert "its setting applies again: 50/s, burst 100" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("set", "orders", "0"), 1, "events_per_second"),
        (("set", "orders", "5", "--burst", "0"), 1, "burst"),
        (("set", "no spaces", "5"), 1, "not a legal Kafka topic name"),
        (("set", "orders", "fast"), 2, "invalid float value"),
        (("set", "orders"), 2, "the following arguments are required"),
        (("clear", "never-limited"), 1, "no rate limit set at run time"),
        ((), 2, "required"),
    ],
)
def test_bad_input_is_one_clear_line(
    product: Product, args: tuple[str, ...], code: int, message: str
) -> None:
    done = cli(product, "limits", *args)
    assert done.returncode == code, done
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_setting_needs_the_token(product: Product) -> None:
    env = {k: v for k, v in product.env.items() if k != "SCHEDULES_API_TOKEN"}
    done = run_cli(env, "limits", "set", product.topic, "5", timeout=60)
    assert done.returncode == 1 and "pass --token" in done.stderr
