"""HTTP API benchmark scenarios, against a real `serve --role api` process.

  http_single   POST /api/v1/schedules, one event per request       target >= 3,000 requests/s
  http_batch    POST /api/v1/schedules/batch, 1,000 events each     target >= 50,000 events/s

The server is what production runs: `hybrid-scheduler serve --role api` (uvicorn in its
own process, started by bench/roles.py) on a free port, against the bench's real Redis
and Kafka broker, with the cold tier off (Redis hot tier only;
`SCHEDULES_COLD_TIER_ENABLED=false`) and default settings otherwise. Events are due in
an hour, inside the hot horizon, and the api role runs no executor, so nothing fires
during a run. Every accepted event is checked in Redis afterwards.

The load comes from this process: a raw asyncio HTTP/1.1 client with `concurrency`
keep-alive connections and one request in flight on each (no pipelining), sending
prebuilt request bytes. It is closed-loop: a connection sends its next request when the
previous answer is read. Latency is from writing a request to having read its whole
response. CPU seconds of the client, the server and Redis are measured over the same
window, so the JSON shows whether the client (sharing the 2 cores) was the limit.

`BENCH_HTTP_PROFILE=/tmp/api.prof python -m bench --quick --only http_batch` runs the
server under cProfile (numbers then include its overhead).

Register them with `SCENARIOS.update(HTTP_SCENARIOS)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from redis.asyncio import Redis

from bench.common import BODY, Scenario, percentiles
from bench.roles import RoleProcess, proc_cpu_seconds, serve
from devstack.services import free_port
from scheduler.hot.keys import Keys
from scheduler.settings import Settings

HOST = "127.0.0.1"
SCHEDULES = "/api/v1/schedules"
BATCH = f"{SCHEDULES}/batch"
HEALTH = f"{SCHEDULES}/monitoring/health"
METRICS = f"{SCHEDULES}/monitoring/metrics"
PREFIX = ""  # SCHEDULES_REDIS_KEY_PREFIX of the server under test: the default
DELAY_SECONDS = 3600  # hot tier (horizon 86,400 s); nothing fires during a run
LATENCY_PS = (50, 95, 99, 99.9)
CLIENT = (
    "raw asyncio HTTP/1.1 client in the bench process (asyncio streams, default event "
    "loop): `concurrency` keep-alive connections, one request in flight on each (no "
    "pipelining), prebuilt request bytes, closed loop"
)

# The event every request carries: the ingest scenarios' envelope (a 400-byte body).
EVENT: dict[str, Any] = {
    "topic": "user.notifications",
    "entity_type": "user",
    "action": "send_reminder",
    "body": BODY.decode(),
    "delay_seconds": DELAY_SECONDS,
    "correlation_id": "reminder-123",
    "headers": {"source": "bench"},
}


# --- a lean HTTP/1.1 client --------------------------------------------------------------


class HttpError(Exception):
    """A response this client cannot read (the connection is then reopened)."""


class Connection:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            self.host, self.port, limit=1 << 22
        )

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one prebuilt request; (status, body) of its response."""
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        if at < 0:
            raise HttpError(f"no content-length in {head[:200]!r}")
        end = lower.index(b"\r\n", at + 2)
        body = await self.reader.readexactly(int(lower[at + 17 : end]))
        if b"\r\nconnection: close" in lower:
            await self.close()
        return status, body


def build_request(method: str, port: int, path: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: */*\r\n"
    if body or method == "POST":
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


@dataclass
class LoadResult:
    seconds: float = 0.0
    requests: int = 0  # finished inside the measured window
    events: int = 0  # accepted inside the measured window
    latencies_ms: list[float] = field(default_factory=list)
    # These three cover the whole run, warm-up and tail included.
    statuses: Counter[str] = field(default_factory=Counter)
    transport_errors: int = 0
    events_rejected: int = 0  # items refused inside a 2xx batch answer
    accepted_total: int = 0  # warm-up included: what Redis must hold afterwards
    client_cpu_seconds: float = 0.0
    server_cpu_seconds: float = 0.0
    redis_cpu_seconds: float = 0.0

    @property
    def errors(self) -> int:
        non_2xx = sum(n for s, n in self.statuses.items() if not s.startswith("2"))
        return non_2xx + self.transport_errors


async def run_load(
    port: int,
    raw: bytes,
    accepted: Callable[[int, bytes], tuple[int, int]],
    *,
    concurrency: int,
    warmup: float,
    duration: float,
    cpu: Callable[[], Any],
) -> LoadResult:
    """Closed-loop load on `concurrency` connections: `warmup` seconds unmeasured, then
    `duration` measured. `accepted(status, body)` gives (events accepted, rejected)."""
    result = LoadResult()
    started = time.perf_counter()
    measure_from = started + warmup
    measure_to = measure_from + duration
    cpu_marks: dict[str, Any] = {}

    async def mark(name: str, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        cpu_marks[name] = await cpu()

    async def worker() -> None:
        conn = Connection(HOST, port)
        try:
            while (t0 := time.perf_counter()) < measure_to:
                try:
                    status, body = await conn.request(raw)
                except (
                    OSError,
                    asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError,
                    HttpError,
                    ValueError,
                ):
                    result.transport_errors += 1
                    await conn.close()
                    await asyncio.sleep(0.01)  # a dead server: do not spin
                    continue
                t1 = time.perf_counter()
                ok, rejected = accepted(status, body)
                result.accepted_total += ok
                result.statuses[str(status)] += 1  # warm-up included: every error counts
                result.events_rejected += rejected
                # Counted by completion time: unbiased throughput in a steady state.
                if measure_from <= t1 <= measure_to:
                    result.requests += 1
                    result.events += ok
                    result.latencies_ms.append((t1 - t0) * 1000)
        finally:
            await conn.close()

    marks = [asyncio.create_task(mark("from", measure_from))]
    marks.append(asyncio.create_task(mark("to", measure_to)))
    await asyncio.gather(*(worker() for _ in range(concurrency)), *marks)
    (c0, s0, r0, t0), (c1, s1, r1, t1) = cpu_marks["from"], cpu_marks["to"]
    result.seconds = t1 - t0
    result.client_cpu_seconds = c1 - c0
    result.server_cpu_seconds = s1 - s0
    result.redis_cpu_seconds = r1 - r0
    return result


# --- the server under test ---------------------------------------------------------------


async def _redis_cpu_seconds(redis: Redis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def _uvicorn_stack() -> dict[str, str]:
    """What the server runs on: uvicorn's `auto` HTTP parser (same interpreter as this
    process); the loop is the CLI's asyncio.run, so uvicorn's loop setting never applies."""
    found = importlib.util.find_spec
    return {"http": "httptools" if found("httptools") else "h11", "loop": "asyncio"}


def _profiler() -> list[str]:
    """`BENCH_HTTP_PROFILE=out.prof` runs the server under cProfile (it writes the
    profile when it stops): where the server's time goes, at cProfile's overhead."""
    out = os.environ.get("BENCH_HTTP_PROFILE")
    return [sys.executable, "-m", "cProfile", "-o", out] if out else []


@dataclass
class Server:
    role: RoleProcess
    port: int

    @property
    def exit_code(self) -> int | None:
        return self.role.exit_code


@contextlib.asynccontextmanager
async def serve_api(settings: Settings, tmp: Path) -> AsyncIterator[Server]:
    """`hybrid-scheduler serve --role api` on a free port (bench/roles.py), until it
    answers health; on exit SIGTERM and wait for a clean stop (killed after 30 s)."""
    port = free_port()
    env = {"SCHEDULES_API_HOST": HOST, "SCHEDULES_API_PORT": str(port)}
    async with serve(
        "api", settings, tmp, extra_env=env, ready=False, argv_prefix=_profiler()
    ) as role:
        server = Server(role, port)
        await _wait_healthy(server, timeout=60)
        yield server


async def _wait_healthy(server: Server, timeout: float) -> None:
    raw = build_request("GET", server.port, HEALTH)
    deadline = time.monotonic() + timeout
    while True:
        if server.role.proc.poll() is not None:
            raise RuntimeError(f"the API server exited: {server.role.log_tail()}")
        conn = Connection(HOST, server.port)
        try:
            status, _ = await conn.request(raw)
            if status == 200:
                return
        except (OSError, asyncio.IncompleteReadError, HttpError):
            pass
        finally:
            await conn.close()
        if time.monotonic() > deadline:
            raise TimeoutError(f"the API did not come up in {timeout}s: {server.role.log}")
        await asyncio.sleep(0.1)


async def _handler_seconds(port: int, route: str) -> tuple[float, int]:
    """(sum, count) of the server's own schedules_http_request_seconds for a route."""
    conn = Connection(HOST, port)
    try:
        _, text = await conn.request(build_request("GET", port, METRICS))
    finally:
        await conn.close()
    total, count = 0.0, 0
    label = f'route="{route}"'.encode()
    for line in text.splitlines():
        if label in line:
            if line.startswith(b"schedules_http_request_seconds_sum"):
                total = float(line.rsplit(b" ", 1)[1])
            elif line.startswith(b"schedules_http_request_seconds_count"):
                count = int(float(line.rsplit(b" ", 1)[1]))
    return total, count


# --- the scenarios -----------------------------------------------------------------------


def _single_accepted(status: int, body: bytes) -> tuple[int, int]:
    return (1, 0) if 200 <= status < 300 else (0, 0)


def _batch_accepted(status: int, body: bytes) -> tuple[int, int]:
    if not 200 <= status < 300:
        return 0, 0
    answer = orjson.loads(body)
    return int(answer["accepted"]), int(answer["rejected"])


async def _scenario(
    settings: Settings,
    *,
    path: str,
    events_per_request: int,
    concurrency: int,
    warmup: float,
    duration: float,
) -> tuple[dict[str, Any], LoadResult]:
    if events_per_request == 1:
        payload, accepted = orjson.dumps(EVENT), _single_accepted
    else:
        payload = orjson.dumps({"events": [EVENT] * events_per_request})
        accepted = _batch_accepted
    redis = Redis.from_url(settings.redis_url)
    await redis.flushall()
    load_before = os.getloadavg()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
            async with serve_api(settings, Path(tmp)) as server:
                pid = server.role.pid

                async def cpu() -> tuple[float, float, float, float]:
                    return (
                        time.process_time(),
                        proc_cpu_seconds(pid),
                        await _redis_cpu_seconds(redis),
                        time.perf_counter(),
                    )

                raw = build_request("POST", server.port, path, payload)
                handler_before = await _handler_seconds(server.port, path)
                load = await run_load(
                    server.port,
                    raw,
                    accepted,
                    concurrency=concurrency,
                    warmup=warmup,
                    duration=duration,
                    cpu=cpu,
                )
                handler_after = await _handler_seconds(server.port, path)
            stored = int(await redis.zcard(Keys(PREFIX).scheduled))
        await redis.flushall()
    finally:
        await redis.aclose()
    handled = handler_after[1] - handler_before[1]
    handler_ms = (handler_after[0] - handler_before[0]) / handled * 1000 if handled else None
    n = max(load.requests, 1)
    report: dict[str, Any] = {
        "kind": "deployed",
        "server": "one `hybrid-scheduler serve --role api` process",
        "processes": [server.role.command],
        "server_uvicorn": _uvicorn_stack(),
        "cold_tier": "disabled (Redis hot tier only; SCHEDULES_COLD_TIER_ENABLED=false)",
        "kafka": "real broker configured; the api role only probes it in /health",
        "client": CLIENT,
        "concurrency": concurrency,
        "events_per_request": events_per_request,
        "request_bytes": len(raw),
        "delay_seconds": DELAY_SECONDS,
        "warmup_seconds": warmup,
        "seconds": round(load.seconds, 2),
        "requests": load.requests,
        "events": load.events,
        "requests_per_second": round(load.requests / load.seconds, 1),
        "events_per_second": round(load.events / load.seconds),
        "latency_ms": {
            k: round(v, 2) for k, v in percentiles(load.latencies_ms, LATENCY_PS).items()
        },
        "server_handler_mean_ms": round(handler_ms, 2) if handler_ms is not None else None,
        "errors": load.errors,  # non-2xx + transport errors, warm-up included
        "statuses": dict(sorted(load.statuses.items())),  # every response of the run
        "transport_errors": load.transport_errors,
        "events_rejected": load.events_rejected,
        "accepted_total_with_warmup": load.accepted_total,
        "stored_in_redis": stored,
        "cpu_seconds": {
            "client": round(load.client_cpu_seconds, 2),
            "server": round(load.server_cpu_seconds, 2),
            "redis": round(load.redis_cpu_seconds, 2),
        },
        "cpu_cores_busy": {
            "client": round(load.client_cpu_seconds / load.seconds, 2),
            "server": round(load.server_cpu_seconds / load.seconds, 2),
            "redis": round(load.redis_cpu_seconds / load.seconds, 2),
        },
        "cpu_us_per_request": {
            "client": round(load.client_cpu_seconds / n * 1e6),
            "server": round(load.server_cpu_seconds / n * 1e6),
            "redis": round(load.redis_cpu_seconds / n * 1e6),
        },
        "load_average_before": [round(x, 2) for x in load_before],
        "server_exit_code": server.exit_code,
    }
    return report, load


def _sound(report: dict[str, Any]) -> bool:
    """No errors, nothing refused, every accepted event in Redis, a clean server stop."""
    return bool(
        report["errors"] == 0
        and report["events_rejected"] == 0
        and report["stored_in_redis"] == report["accepted_total_with_warmup"]
        and report["server_exit_code"] == 0
    )


def _http_scenario(
    name: str, path: str, events_per_request: int, concurrency: int, measure: str, target: int
) -> Scenario:
    """A scenario that loads `path` and is met when `measure` reaches `target`."""

    async def run(settings: Settings, quick: bool) -> dict[str, Any]:
        report, _ = await _scenario(
            settings,
            path=path,
            events_per_request=events_per_request,
            concurrency=concurrency,
            warmup=0.5 if quick else 2.0,
            duration=3.0 if quick else 20.0,
        )
        report["command"] = f"python -m bench --only {name}" + (" --quick" if quick else "")
        report[f"target_{measure}"] = target
        report["met"] = report[measure] >= target and _sound(report)
        return report

    return run


bench_http_single = _http_scenario("http_single", SCHEDULES, 1, 16, "requests_per_second", 3_000)
# 1,000 events per request: SCHEDULES_API_MAX_BATCH's default.
bench_http_batch = _http_scenario("http_batch", BATCH, 1000, 2, "events_per_second", 50_000)


HTTP_SCENARIOS = {
    "http_single": bench_http_single,
    "http_batch": bench_http_batch,
}
