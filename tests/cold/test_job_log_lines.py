"""Each sync, cleanup and recovery run logs one INFO line with its counts and duration,
which the runbook's `grep "sync.*completed"` (and "cleanup"/"recovery" likewise) finds;
no event body in them."""

from __future__ import annotations

import logging
import re
import time

import pytest
from unit.fakes import sync_config

from scheduler.cold.cleanup import cleanup
from scheduler.cold.records import FIRST_VERSION, Status, Tier, micros, row
from scheduler.cold.recovery import recover
from scheduler.cold.store import ColdStore
from scheduler.cold.sync import sync
from scheduler.hot.store import HotStore
from scheduler.models import Event

DAY = 86400.0
BODY = b"secret body of the event"


def lines(caplog: pytest.LogCaptureFixture, word: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if re.search(rf"{word}.*completed", r.getMessage())]


def event(sid: str, at: float) -> Event:
    return Event(schedule_id=sid, topic="t", body=BODY, scheduled_at=at, created_at=at)


async def test_a_sync_run_logs_one_line_with_its_counts(
    cold: ColdStore, hot: HotStore, caplog: pytest.LogCaptureFixture
) -> None:
    now = time.time()
    await cold.write(
        [row(event(f"soon-{i}", now + 60), Status.PENDING, Tier.COLD, 1) for i in range(3)]
    )
    caplog.set_level(logging.INFO)
    result = await sync(cold, hot, sync_config(), now=now)
    (line,) = lines(caplog, "sync")
    assert line.levelno == logging.INFO
    assert result.transferred == 3
    assert re.fullmatch(
        r"sync completed: 3 transferred, 0 demoted, 0 resolved in \d+\.\d\ds", line.getMessage()
    )
    assert BODY.decode() not in caplog.text


async def test_a_cleanup_run_logs_one_line_with_its_counts(
    cold: ColdStore, hot: HotStore, caplog: pytest.LogCaptureFixture
) -> None:
    old = time.time() - 40 * DAY
    rows = []
    for i, status in enumerate([Status.EXECUTED, Status.EXECUTED, Status.CANCELLED]):
        ev = event(f"old-{i}", old)
        rows.append(row(ev, Status.PENDING, Tier.COLD, FIRST_VERSION, updated_us=micros(old)))
        rows.append(row(ev, status, Tier.HOT, FIRST_VERSION + 10, updated_us=micros(old)))
    await cold.write(rows)
    caplog.set_level(logging.INFO)
    result = await cleanup(cold, hot, retention_days=30)
    assert result.removed == {"executed": 2, "cancelled": 1}
    (line,) = lines(caplog, "cleanup")
    assert line.levelno == logging.INFO
    assert re.fullmatch(
        r"cleanup completed: 3 removed \(cancelled 1, executed 2\), \d+ months dropped, "
        r"0 hot orphans in \d+\.\d\ds",
        line.getMessage(),
    )


async def test_a_recovery_run_logs_one_line_with_its_counts(
    cold: ColdStore, hot: HotStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await recover(cold, hot, processing_timeout_seconds=600, batch_size=100)
    (line,) = lines(caplog, "recovery")
    assert line.levelno == logging.INFO
    assert re.fullmatch(
        r"recovery completed: 0 stuck processing resolved \(0 transferred, 0 requeued\), "
        r"0 left waiting, 0 expired leases returned in \d+\.\d\ds",
        line.getMessage(),
    )
