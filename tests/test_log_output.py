"""A real `hybrid-scheduler serve --role ...` process with SCHEDULES_LOG_FORMAT=json and
SCHEDULES_LOG_FILE, on the session's Redis and broker, stopped with SIGTERM: every line of
its log file (and of its stderr) is one JSON object with ts, level, logger and message;
it says what started and what stopped; no secret reaches the log. Pause lines name the
pause, not the whole pause state."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import eventually, role_process

from devstack.services import free_port
from scheduler.service import SchedulerService
from scheduler.settings import Settings

TOKEN = "log-test-api-token-0123456789"


def entries(text: str) -> list[dict[str, Any]]:
    """Every line parsed as JSON; fails on the first that is not one object."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            entry = json.loads(line)
        except ValueError:
            pytest.fail(f"line {number} is not JSON: {line!r}")
        assert isinstance(entry, dict), line
        out.append(entry)
    return out


def check_fields(entry: dict[str, Any]) -> None:
    assert {"ts", "level", "logger", "message"} <= entry.keys(), entry
    ts = datetime.fromisoformat(entry["ts"])
    assert ts.utcoffset() == timedelta(0), entry["ts"]
    assert entry["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
    assert isinstance(entry["logger"], str) and isinstance(entry["message"], str)


@pytest.mark.parametrize(
    ("role", "started"),
    [("executor", "roles executor"), ("api", "HTTP API on http://127.0.0.1:")],
)
async def test_a_role_logs_json_lines_to_its_file_and_stderr(
    settings: Settings, tmp_path: Path, role: str, started: str
) -> None:
    log_file = tmp_path / "var" / "log" / "scheduler.log"  # the directory does not exist
    stderr = tmp_path / "stderr.log"
    proc = role_process(
        settings,
        role,
        stderr=stderr.open("wb"),
        SCHEDULES_LOG_FORMAT="json",
        SCHEDULES_LOG_FILE=str(log_file),
        SCHEDULES_LOG_LEVEL="INFO",
        SCHEDULES_API_TOKEN=TOKEN,
        SCHEDULES_API_HOST="127.0.0.1",
        SCHEDULES_API_PORT=str(free_port()),
    )

    def up() -> bool:
        assert proc.poll() is None, stderr.read_text()
        return log_file.exists() and "hybrid-scheduler started" in log_file.read_text()

    try:
        assert await eventually(up, timeout=30), stderr.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
    assert code == 0, stderr.read_text()

    text = log_file.read_text()
    logged = entries(text)
    for entry in logged:
        check_fields(entry)
    messages = [e["message"] for e in logged]
    (start,) = [m for m in messages if m.startswith("hybrid-scheduler started")]
    assert started in start
    (stop,) = [m for m in messages if m.startswith("hybrid-scheduler stopped")]
    assert "SIGTERM" in stop and started in stop
    assert messages.index(start) < messages.index(stop)
    assert messages[-1] == stop  # nothing after the last line
    if role == "api":  # uvicorn's own lines go through the same handlers
        assert any(e["logger"].startswith("uvicorn") for e in logged), messages
    # stderr has the same lines, as JSON too
    assert [e["message"] for e in entries(stderr.read_text())] == messages
    assert TOKEN not in text


async def test_a_second_process_appends_to_the_same_file(
    settings: Settings, tmp_path: Path
) -> None:
    log_file = tmp_path / "scheduler.log"
    log_file.write_text('{"message": "an earlier line"}\n')
    proc = role_process(
        settings, "executor", SCHEDULES_LOG_FORMAT="json", SCHEDULES_LOG_FILE=str(log_file)
    )
    try:
        assert await eventually(
            lambda: "hybrid-scheduler started" in log_file.read_text(), timeout=30
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
    logged = entries(log_file.read_text())
    assert logged[0] == {"message": "an earlier line"}
    assert logged[-1]["message"].startswith("hybrid-scheduler stopped")


async def test_pause_lines_name_the_pause_not_the_whole_state(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    service = SchedulerService(settings)
    await service.start([])
    try:
        caplog.set_level(logging.WARNING, logger="scheduler.service")
        await service.pause("topic", topic="orders", reason="a long reason " * 30)
        await service.pause("priority", priority_below=0)
        await service.resume("topic", topic="orders")
        await service.resume("all")
    finally:
        await service.stop()
    assert [r.getMessage() for r in caplog.records if r.name == "scheduler.service"] == [
        "pause started: topic orders; active pauses: 1, held events: 0",
        "pause started: priority below 0; active pauses: 2, held events: 0",
        "pause ended: topic orders; 0 held events returned, active pauses: 1",
        "pause ended: all; 0 held events returned, active pauses: 0",
    ]
