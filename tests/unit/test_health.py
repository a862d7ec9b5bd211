"""The health endpoint's grading and probing (api.probes), with probes that answer, fail
or hang; no services."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime

import pytest

from api.probes import HealthProbes, check, overall
from scheduler.runtime import Probe
from unit.fakes import default_settings


async def up() -> None:
    return None


async def refused() -> None:
    raise ConnectionError("connection refused")


async def silent_failure() -> None:
    raise TimeoutError


async def hangs() -> None:
    await asyncio.Event().wait()


def components(**status: str) -> dict[str, dict[str, object]]:
    return {name: {"status": s, "latency_ms": 1.0} for name, s in status.items()}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"redis": "up", "kafka": "up"}, ("healthy", 200)),
        ({"redis": "up", "clickhouse": "up", "kafka": "up", "temporal": "up"}, ("healthy", 200)),
        ({"redis": "up", "clickhouse": "down", "kafka": "up"}, ("degraded", 200)),
        ({"redis": "up", "kafka": "down"}, ("degraded", 200)),
        ({"redis": "up", "kafka": "up", "temporal": "down"}, ("degraded", 200)),
        ({"redis": "down", "kafka": "up"}, ("unhealthy", 503)),
        ({"redis": "down", "clickhouse": "down", "kafka": "down"}, ("unhealthy", 503)),
    ],
)
def test_overall(status: dict[str, str], expected: tuple[str, int]) -> None:
    assert overall(components(**status)) == expected


async def test_check_up() -> None:
    result = await check(up)
    assert result["status"] == "up"
    assert result["latency_ms"] >= 0
    assert "error" not in result


async def test_check_down_says_why() -> None:
    assert (await check(refused))["error"] == "connection refused"
    # an exception without a message is named by its class
    assert (await check(silent_failure))["error"] == "TimeoutError"


async def test_check_bounds_a_probe_that_does_not_answer() -> None:
    result = await check(hangs, within=0.01)
    assert result["status"] == "down"
    assert result["error"] == "TimeoutError"


class Stores:
    def __init__(self, probes: Mapping[str, Probe]) -> None:
        self._probes = probes

    def probes(self) -> Mapping[str, Probe]:
        return self._probes


class Temporal:
    """A temporalio Client as far as the probe asks: service_client.check_health()."""

    def __init__(self, probe: Probe) -> None:
        self.service_client = type("ServiceClient", (), {"check_health": staticmethod(probe)})


def test_the_probes_are_the_stores_then_kafka_then_temporal() -> None:
    settings = default_settings()
    stores = Stores({"redis": up, "clickhouse": up})
    assert list(HealthProbes.of(stores, settings).probes) == ["redis", "clickhouse", "kafka"]
    with_temporal = HealthProbes.of(stores, settings, Temporal(up))
    assert list(with_temporal.probes) == ["redis", "clickhouse", "kafka", "temporal"]


async def test_report() -> None:
    body, code = await HealthProbes({"redis": up, "clickhouse": refused, "kafka": up}).report()
    assert code == 200
    assert body["status"] == "degraded"
    assert list(body["components"]) == ["redis", "clickhouse", "kafka"]
    assert body["components"]["clickhouse"]["status"] == "down"
    assert datetime.fromisoformat(body["timestamp"]).tzinfo is not None

    body, code = await HealthProbes({"redis": refused, "kafka": up}).report()
    assert (body["status"], code) == ("unhealthy", 503)


async def test_the_temporal_probe_asks_the_service_client() -> None:
    probes = HealthProbes.of(Stores({"redis": up}), default_settings(), Temporal(refused))
    assert (await check(probes.probes["temporal"]))["error"] == "connection refused"
