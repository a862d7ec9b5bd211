"""`hybrid-scheduler tail TOPIC`: watch events arrive on a Kafka topic.

Each record is shown with its headers and its lateness: the record's timestamp minus the
`scheduled_at` header the executor sets (for events the scheduler published; others
have no lateness). It reads every partition without a consumer group (nothing is
committed, no other consumer is disturbed), from now on (`--from-beginning`: also what the
topic holds), until `--count` records, `--seconds`, or Ctrl-C. A topic that does not exist
yet is waited for, and then read from its start (all of it arrived after we began).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

from cli.ops.console import err, fail

POLL_MS = 200


def cmd_tail(args: argparse.Namespace) -> int:
    for name in ("aiokafka", "kafka"):  # we say what went wrong ourselves, once
        logging.getLogger(name).setLevel(logging.CRITICAL)
    if args.count is not None and args.count < 1:
        fail("--count must be at least 1")
        return 2
    bootstrap = args.bootstrap or _configured_bootstrap()
    if bootstrap is None:
        return 2
    return asyncio.run(_tail(args, bootstrap))


def _configured_bootstrap() -> str | None:
    from scheduler.errors import SchedulerError
    from scheduler.settings import load_settings

    try:
        return load_settings().kafka_bootstrap_servers
    except SchedulerError as exc:
        fail(str(exc))
        return None


async def _tail(args: argparse.Namespace, bootstrap: str) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started = time.monotonic()
    deadline = started + args.seconds if args.seconds is not None else None
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        metadata_max_age_ms=1000,
        request_timeout_ms=10_000,
    )
    try:
        await asyncio.wait_for(consumer.start(), 15)
    except Exception as exc:
        await consumer.stop()
        fail(
            f"cannot reach Kafka at {bootstrap} ({exc or type(exc).__name__}): set "
            "KAFKA_BOOTSTRAP_SERVERS or pass --bootstrap"
        )
        return 2
    seen = 0
    lateness: list[float] = []
    try:
        await consumer.topics()  # the cluster's metadata, fresh
        partitions = consumer.partitions_for_topic(args.topic)
        new_topic = not partitions
        if new_topic:
            err.print(f"waiting for topic {args.topic} to exist on {bootstrap} ...", markup=False)
            while not partitions and not _over(stop, deadline):
                await asyncio.sleep(0.5)
                await consumer.topics()
                partitions = consumer.partitions_for_topic(args.topic)
            if not partitions:
                return 0
        tps = [TopicPartition(args.topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        if not (args.from_beginning or new_topic):
            await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)  # resolved now: nothing from here on is missed
        since = "the beginning" if args.from_beginning or new_topic else "now"
        err.print(
            f"watching {args.topic} on {bootstrap} ({len(tps)} partitions) from {since}; "
            "Ctrl-C stops",
            markup=False,
        )
        while not _over(stop, deadline) and (args.count is None or seen < args.count):
            wait_ms = POLL_MS
            if deadline is not None:
                wait_ms = max(1, min(wait_ms, int((deadline - time.monotonic()) * 1000)))
            batch = await consumer.getmany(timeout_ms=wait_ms)
            records = sorted(
                (r for rs in batch.values() for r in rs), key=lambda r: (r.timestamp, r.offset)
            )
            for record in records:
                shown = _show(record, args)
                if shown is not None:
                    lateness.append(shown)
                seen += 1
                if args.count is not None and seen >= args.count:
                    break
    finally:
        await consumer.stop()
        summary = f"{seen} event{'s' if seen != 1 else ''} in {time.monotonic() - started:.1f} s"
        if lateness:
            summary += (
                f"; lateness p50 {statistics.median(lateness):.1f} ms, max {max(lateness):.1f} ms"
            )
        err.print(summary, markup=False)
    return 0


def _over(stop: asyncio.Event, deadline: float | None) -> bool:
    return stop.is_set() or (deadline is not None and time.monotonic() >= deadline)


def _show(record: Any, args: argparse.Namespace) -> float | None:
    """Print one record; its lateness in ms (None without a scheduled_at header)."""
    headers = {k: v.decode("utf-8", "replace") for k, v in record.headers or ()}
    lateness = _lateness(record.timestamp, headers.get("scheduled_at"))
    value = b"" if record.value is None else record.value
    body = value.decode("utf-8", "replace")
    key = None if record.key is None else record.key.decode("utf-8", "replace")
    at = datetime.fromtimestamp(record.timestamp / 1000, UTC)
    if args.json:
        line = {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "timestamp": at.isoformat(),
            "key": key,
            "headers": headers,
            "lateness_ms": None if lateness is None else round(lateness, 3),
            "value": body,
        }
        sys.stdout.write(json.dumps(line) + "\n")
    else:
        late = "lateness -" if lateness is None else f"lateness {lateness:+.1f} ms"
        if len(body) > args.body_chars:
            body = body[: args.body_chars] + f"... ({len(value):,} bytes)"
        names = " ".join(f"{k}={v}" for k, v in headers.items())
        sys.stdout.write(
            f"{at:%H:%M:%S.%f}"[:-3]
            + f"  {record.topic}[{record.partition}]@{record.offset}  {late}  key={key}\n"
            + f"    headers: {names or '-'}\n    body: {body}\n"
        )
    sys.stdout.flush()
    return lateness


def _lateness(timestamp_ms: int, scheduled_at: str | None) -> float | None:
    if not scheduled_at:
        return None
    try:
        due = datetime.fromisoformat(scheduled_at)
    except ValueError:
        return None
    if due.tzinfo is None:
        due = due.replace(tzinfo=UTC)
    return timestamp_ms - due.timestamp() * 1000
