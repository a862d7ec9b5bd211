"""What GET .../monitoring/health asks: the core's stores (Redis; ClickHouse with the cold
tier), a Kafka broker (scheduler.kafka.probe_broker, the round trip the executor makes)
and Temporal when the API has a client. Each probe is bounded by CHECK_TIMEOUT; they run
at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from scheduler.kafka import probe_broker
from scheduler.runtime import Probe
from scheduler.settings import Settings

CHECK_TIMEOUT = 2.0
# Within the check's own bound, so that a broker that does not answer is reported as such.
KAFKA_PROBE_TIMEOUT = CHECK_TIMEOUT * 0.9


class Stores(Protocol):
    """What the health endpoint asks of the core (scheduler.runtime.Runtime)."""

    def probes(self) -> Mapping[str, Probe]: ...


def kafka_probe(bootstrap: str) -> Probe:
    async def answers() -> None:
        error = await probe_broker(bootstrap, KAFKA_PROBE_TIMEOUT)
        if error is not None:
            raise ConnectionError(error)

    return answers


def temporal_probe(client: Any) -> Probe:
    """`client`: a connected temporalio Client."""
    return lambda: client.service_client.check_health()


async def check(probe: Probe, within: float = CHECK_TIMEOUT) -> dict[str, Any]:
    """One component: `up` or `down` (with why), and how long the probe took."""
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), within)
    except Exception as exc:
        ms = round((time.perf_counter() - started) * 1000, 2)
        return {"status": "down", "latency_ms": ms, "error": str(exc) or type(exc).__name__}
    return {"status": "up", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def overall(components: Mapping[str, Mapping[str, Any]]) -> tuple[str, int]:
    """The status and HTTP code: `unhealthy` (503) when Redis is down, since nothing can be
    scheduled or fired; `degraded` (200) when anything else is; else `healthy` (200)."""
    if components["redis"]["status"] != "up":
        return "unhealthy", 503
    if any(c["status"] != "up" for c in components.values()):
        return "degraded", 200
    return "healthy", 200


@dataclass(frozen=True)
class HealthProbes:
    """The probes by component name, in the order the answer lists them."""

    probes: Mapping[str, Probe]

    @classmethod
    def of(cls, stores: Stores, settings: Settings, temporal: Any = None) -> HealthProbes:
        probes = dict(stores.probes())
        probes["kafka"] = kafka_probe(settings.kafka_bootstrap_servers)
        if temporal is not None:
            probes["temporal"] = temporal_probe(temporal)
        return cls(probes)

    async def report(self) -> tuple[dict[str, Any], int]:
        """The health answer's body (the Health model) and its HTTP code."""
        results = await asyncio.gather(*(check(p) for p in self.probes.values()))
        components = dict(zip(self.probes, results, strict=True))
        status, code = overall(components)
        body = {
            "status": status,
            "timestamp": datetime.now(UTC).isoformat(),
            "components": components,
        }
        return body, code
