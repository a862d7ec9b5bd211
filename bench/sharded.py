"""The lateness and burst scenarios again on a sharded hot tier: a Redis Cluster of three
primaries (no replicas: on a 2-core machine they would take CPU from the primaries),
SCHEDULES_REDIS_SHARDS=3, started for the scenario on free ports; the single-Redis runs
of the same scenarios (bench/deployed.py) are the comparison. The report of the default
run gives each pair's ratio (`sharding_ratios`, bench/__main__.py).

  lateness_2000_cluster3   as lateness_2000, on the cluster
  burst_cluster3           as burst, on the cluster
  claim_per_shard          what one shard's Redis does alone (in this process, on the
                           run's single redis-server): 100,000 due events (20,000 with
                           --quick) claimed 1,000 at a time and acked, and the Redis
                           memory each pending event takes
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.common import Scenario
from bench.deployed import burst_scenario, lateness_scenario
from bench.roles import SERVICE_PIDS
from devstack.services import start_redis_cluster
from scheduler.hot.keys import Keys
from scheduler.hot.store import HotStore
from scheduler.models import Event
from scheduler.settings import Settings

SHARDS = 3
PRIMARIES = 3


def on_cluster(scenario: Scenario) -> Scenario:
    """`scenario`, its roles and its client on a fresh cluster of PRIMARIES primaries."""

    async def run(settings: Settings, quick: bool) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
            nodes = start_redis_cluster(Path(tmp), primaries=PRIMARIES, replicas=0)
            for i, node in enumerate(nodes):
                SERVICE_PIDS[f"redis{i}"] = node.process.pid
            try:
                on = settings.model_copy(
                    update={
                        "redis_url": f"redis://127.0.0.1:{nodes[0].port}/0",
                        "redis_cluster": True,
                        "redis_shards": SHARDS,
                    }
                )
                report = await scenario(on, quick)
            finally:
                for i, node in enumerate(nodes):
                    SERVICE_PIDS.pop(f"redis{i}", None)
                    node.stop()
        return {
            "redis": f"Redis Cluster of {PRIMARIES} primaries, no replicas, "
            f"SCHEDULES_REDIS_CLUSTER=true SCHEDULES_REDIS_SHARDS={SHARDS}",
            **report,
        }

    return run


CLAIM_BATCH = 1000
BODY = b"x" * 400  # stored plain: this HotStore does not compress (scheduler/codec.py)


async def claim_per_shard(settings: Settings, quick: bool) -> dict[str, Any]:
    n = 20_000 if quick else 100_000
    redis = Redis.from_url(settings.redis_url)
    hot = HotStore(redis, Keys("claim:"))
    try:
        before = int((await redis.info("memory"))["used_memory"])
        due = time.time() - 1
        for start in range(0, n, 5000):
            await hot.schedule(
                [
                    Event(schedule_id=f"c{i}", topic="bench.claim", body=BODY, scheduled_at=due)
                    for i in range(start, min(n, start + 5000))
                ]
            )
        stored = int((await redis.info("memory"))["used_memory"])
        redis_cpu0 = float((await redis.info("cpu"))["used_cpu_user"])
        claim_s = ack_s = 0.0
        claimed = 0
        while True:
            t = time.perf_counter()
            batch = await hot.claim(CLAIM_BATCH, 60)
            claim_s += time.perf_counter() - t
            if not batch.items:
                break
            claimed += len(batch.items)
            t = time.perf_counter()
            await hot.ack(batch.token, [c.event.schedule_id for c in batch.items])
            ack_s += time.perf_counter() - t
        redis_cpu = float((await redis.info("cpu"))["used_cpu_user"]) - redis_cpu0
    finally:
        await redis.aclose()
    return {
        "kind": "client (in this process, real Redis)",
        "command": f"python -m bench --only claim_per_shard{' --quick' if quick else ''}",
        "events": n,
        "claimed": claimed,
        "claim_batch": CLAIM_BATCH,
        "claims_per_second": round(claimed / claim_s),
        "claim_and_ack_per_second": round(claimed / (claim_s + ack_s)),
        "redis_cpu_user_seconds_claiming_and_acking": round(redis_cpu, 2),
        "bytes_per_pending_event": round((stored - before) / n),
        "body_bytes": len(BODY),
    }


# name -> the single-Redis scenario it is compared with
COMPARED = {"lateness_2000_cluster3": "lateness_2000", "burst_cluster3": "burst"}

SHARDED_SCENARIOS: dict[str, Scenario] = {
    "lateness_2000_cluster3": on_cluster(
        lateness_scenario(2000, {"p50": 3, "p99": 8, "p99.9": 15}, name="lateness_2000_cluster3")
    ),
    "burst_cluster3": on_cluster(burst_scenario("burst_cluster3", 100_000, 10_000, 2.0)),
    "claim_per_shard": claim_per_shard,
}


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    """Cluster / single for each pair both of whose runs are in `results`."""
    out: dict[str, Any] = {}
    for sharded, single in COMPARED.items():
        a, b = results.get(sharded), results.get(single)
        if not a or not b:
            continue
        if "lateness_ms" in a and "lateness_ms" in b:
            out[sharded] = {
                f"lateness_{p}_ms": [b["lateness_ms"].get(p), a["lateness_ms"].get(p)]
                for p in ("p50", "p99", "p99.9", "max")
            }
        if a.get("events_per_second") and b.get("events_per_second"):
            out[sharded] = {
                "events_per_second": [b["events_per_second"], a["events_per_second"]],
                "ratio_cluster_to_single": round(
                    a["events_per_second"] / b["events_per_second"], 2
                ),
            }
        out[sharded]["order"] = [single, sharded]
    return out
