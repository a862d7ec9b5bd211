"""Benchmarks of the product as deployed, on freshly started real services; JSON out.

    python -m bench [--quick] [--only NAME|GROUP ...] [--repeat N] [--set NAME=VALUE ...]
                    [--out bench/results.json]

The bench starts a Tansu broker for the run and a fresh redis-server for every scenario
(free loopback ports, a temporary directory), and the product's roles as their own
processes through the console script: `hybrid-scheduler serve --role executor`,
`--role consumer`, `--role api` (cold tier off but for `ingest_journal`, default settings
otherwise). Everything started is stopped at the end, on an error and on Ctrl-C.

Groups (and their scenarios):
  deployed   lateness_500, lateness_2000, lateness_5000, burst, ingest, ingest_2proc,
             ingest_journal (cold tier on), http_single, http_batch   bench/deployed.py,
                                                                      bench/http.py
  client     enqueue_single, enqueue_batch                            bench/enqueue.py
             memory (also an incompressible body, and the codec's CPU) bench/memory.py
  component  inprocess_component_lateness_5000 (explains the deployed lateness)
                                                                      bench/component.py
  cold       inprocess_component_ingest_journal, sync_1m, due_window,
             cold_ingest                                              bench/cold.py
             (embedded ClickHouse, in this process)
  ratelimit  rate_limit_1m (1,000,000 due at once to a topic limited to 20,000/s, and
             100,000 to another)                                      bench/ratelimit.py
  sharded    lateness_2000_cluster3, burst_cluster3 (on a Redis Cluster of three
             primaries, SCHEDULES_REDIS_SHARDS=3; compared with lateness_2000 and burst
             in `sharding_ratios`), claim_per_shard                   bench/sharded.py
  long       burst_1m (once; its target is for five runs: --only burst_1m --repeat 5)

Targets (one 2-core machine): lateness p50/p99/p99.9 <= 2/5/10 ms at 500/s (max <= 50),
3/8/15 at 2,000/s, 5/20/40 at 5,000/s, nothing early; 100,000 due at once drained in
<= 2 s, 1,000,000 in <= 25 s; schedule_event >= 5,000/s, the batch path >= 100,000/s;
ingest >= 50,000/s in one consumer process (>= 40,000/s journaled); <= 600 bytes of
Redis per pending event; HTTP >= 3,000 single POSTs/s and >= 50,000 events/s in
batches, one API process; a topic limited to 20,000/s drains at 20,000/s +- 5 % while
another topic's events due at the same instant are not held up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bench.cold import COLD_SCENARIOS
from bench.common import Scenario, repeated
from bench.component import COMPONENT_SCENARIOS
from bench.deployed import DEPLOYED_SCENARIOS, LONG_SCENARIOS
from bench.enqueue import ENQUEUE_SCENARIOS
from bench.http import HTTP_SCENARIOS
from bench.memory import MEMORY_SCENARIOS
from bench.ratelimit import RATE_LIMIT_SCENARIOS
from bench.roles import OVERRIDES, SERVICE_PIDS, stop_all
from bench.sharded import SHARDED_SCENARIOS, ratios
from devstack.services import free_port, start_kafka, start_redis
from scheduler.settings import Settings, env_name

GROUPS: dict[str, dict[str, Scenario]] = {
    "deployed": {**DEPLOYED_SCENARIOS, **HTTP_SCENARIOS},
    "client": {**ENQUEUE_SCENARIOS, **MEMORY_SCENARIOS},
    "component": COMPONENT_SCENARIOS,
    "cold": COLD_SCENARIOS,
    "ratelimit": RATE_LIMIT_SCENARIOS,
    "sharded": SHARDED_SCENARIOS,
    "long": LONG_SCENARIOS,
}
KIND = {
    "deployed": "deployed",
    "client": "client (in this process, real Redis)",
    "component": "in-process (component)",
    "cold": "in-process (component)",
    "ratelimit": "deployed",
    "sharded": "deployed",
    "long": "deployed",
}
SCENARIOS: dict[str, Scenario] = {n: s for group in GROUPS.values() for n, s in group.items()}
GROUP_OF = {n: g for g, group in GROUPS.items() for n in group}
DEFAULT = list(SCENARIOS)  # every scenario: `make bench` prints every figure


def _names(chosen: list[str]) -> list[str]:
    names: list[str] = []
    for item in chosen:
        names += list(GROUPS[item]) if item in GROUPS else [item]
    return list(dict.fromkeys(names))


async def run(
    names: list[str], quick: bool, kafka: str, tmp: Path, repeat: int = 1
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in names:
        runs = []
        for i in range(repeat):
            of = f" (run {i + 1} of {repeat})" if repeat > 1 else ""
            print(f"bench: {name}{of} ...", file=sys.stderr, flush=True)
            runs.append(await _run_one(name, quick, kafka, tmp / f"redis-{name}-{i}"))
        results[name] = runs[0] if repeat == 1 else repeated(runs)
    return results


async def _run_one(name: str, quick: bool, kafka: str, redis_dir: Path) -> dict[str, Any]:
    # A fresh redis-server for every run: no memory, keys or slow log carried over.
    redis_proc = start_redis(free_port(), redis_dir)
    SERVICE_PIDS["redis"] = redis_proc.process.pid
    try:
        settings = Settings(
            redis_url=f"redis://127.0.0.1:{redis_proc.port}/0",
            kafka_bootstrap_servers=kafka,
            kafka_idempotent_producer=False,  # Tansu refuses idempotent producers
            cold_tier_enabled=False,  # the cold scenarios bring their own engine
            clickhouse_shim_port=0,
        )
        t = time.perf_counter()
        started = datetime.now(UTC).isoformat(timespec="seconds")
        result = await SCENARIOS[name](settings, quick)
        result.setdefault("kind", KIND[GROUP_OF[name]])
        result["started_at"] = started
        result["wall_seconds"] = round(time.perf_counter() - t, 1)
        return result
    finally:
        redis_proc.stop()


def _runs(text: str) -> int:
    n = int(text) if text.isdigit() else 0
    if n < 1:
        raise argparse.ArgumentTypeError(
            f"--repeat takes a whole number of runs, 1 or more: {text!r}"
        )
    return n


def _setting(text: str) -> tuple[str, str]:
    """`--set NAME=VALUE`: a setting by its environment variable, checked as Settings
    would read it."""
    name, eq, value = text.partition("=")
    name = name.strip().upper()
    if not eq or name not in {env_name(f) for f in Settings.model_fields}:
        raise argparse.ArgumentTypeError(
            f"--set takes NAME=VALUE with NAME a setting of README Configuration: {text!r}"
        )
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        Settings()
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(
            f"--set {name}={value!r}: {exc.errors()[0]['msg']}"
        ) from None
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before
    return name, value


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument(
        "--only",
        nargs="*",
        choices=[*GROUPS, *SCENARIOS],
        default=DEFAULT,
        metavar="NAME|GROUP",
        help=f"scenarios or groups to run (default: all); groups: {list(GROUPS)}",
    )
    parser.add_argument(
        "--repeat",
        type=_runs,
        default=1,
        metavar="N",
        help="run each scenario N times, each on a fresh redis-server; the report lists "
        "every run's figures and the worst of each (burst_1m's target: --repeat 5)",
    )
    parser.add_argument(
        "--set",
        type=_setting,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting (README Configuration) for every role process and the bench's own "
        "client, e.g. --set SCHEDULES_HOT_COMPRESS_MIN_BYTES=0; repeatable",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results.json"))
    args = parser.parse_args()
    OVERRIDES.update(args.set)
    os.environ.update(OVERRIDES)  # the bench process's Settings read them too
    names = _names(args.only)
    uptime = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        kafka_proc = start_kafka(free_port(), Path(tmp) / "kafka")
        SERVICE_PIDS["broker"] = kafka_proc.process.pid
        try:
            kafka = f"127.0.0.1:{kafka_proc.port}"
            results = asyncio.run(run(names, args.quick, kafka, Path(tmp), args.repeat))
        except KeyboardInterrupt:
            print("bench: interrupted", file=sys.stderr)
            raise SystemExit(130) from None
        finally:
            stop_all()
            kafka_proc.stop()
    report = {
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": [round(x, 2) for x in uptime],
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "quick": args.quick,
        "repeat": args.repeat,
        "settings": dict(OVERRIDES),  # given with --set; the rest are defaults
        "results": results,
        # [single Redis, 3-shard cluster] per measure (bench/sharded.py)
        "sharding_ratios": ratios(results),
    }
    text = json.dumps(report, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
