"""One real `hybrid-scheduler dev` for the tests that need the whole product as a
developer runs it (tests/test_dev.py, tests/test_operations_doc.py): `python -m cli dev`
as a child process with its state in a temporary directory, every port a free one set
through the SCHEDULES_DEV_* settings, its log in a file (SCHEDULES_LOG_FILE). It counts
as started once it has written .dev/env; it is stopped with SIGTERM and must then exit 0
and leave no .dev/env behind. The `dev` fixture (tests/conftest.py) starts one per session.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from devstack.services import free_port

# What dev, and the processes beside it, must not inherit from the test process (the
# suite's own settings, services and the Redis-only default of tests/conftest.py).
CONNECTIONS = ("REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "TEMPORAL_ADDRESS", "CLICKHOUSE_URL")
START_TIMEOUT = 60.0


def base_env() -> dict[str, str]:
    """The test process's environment without any of the product's settings."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in CONNECTIONS and not k.startswith(("SCHEDULES_", "KAFKA_", "TEMPORAL_"))
    }


@dataclass
class Dev:
    process: subprocess.Popen[bytes]
    dir: Path  # dev's working directory; its state is in dir/.dev
    output_path: Path  # dev's stdout and stderr
    log_file: Path  # SCHEDULES_LOG_FILE
    env_file: Path
    env: dict[str, str]  # what .dev/env says
    ports: dict[str, int]

    def shell_env(self) -> dict[str, str]:
        """A developer's shell after `set -a; . .dev/env; set +a`."""
        return {**base_env(), **self.env}

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def status(self, schedule_id: str) -> dict[str, object] | None:
        """What dev's HTTP API answers for the schedule; None while it does not know it."""
        reply = httpx.get(f"{self.env['SCHEDULES_API_URL']}/api/v1/schedules/{schedule_id}")
        if reply.status_code == 404:
            return None
        assert reply.status_code == 200, reply.text
        body: dict[str, object] = reply.json()
        return body

    def wait_status(
        self, schedule_id: str, *wanted: str, timeout: float = 20.0
    ) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.status(schedule_id)
            if got is not None and got["status"] in wanted:
                return got
            assert time.monotonic() < deadline, (schedule_id, wanted, got)
            time.sleep(0.2)


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = shlex.split(value)[0] if value else ""
    return env


@contextlib.contextmanager
def running_dev(tmp: Path) -> Iterator[Dev]:
    names = ("redis", "kafka", "temporal", "temporal_ui", "clickhouse", "api", "metrics")
    ports = {name: free_port() for name in names}
    log_file = tmp / "log" / "scheduler.log"
    env = {
        **base_env(),
        "SCHEDULES_DEV_DIR": str(tmp / ".dev"),
        "SCHEDULES_CLICKHOUSE_PATH": str(tmp / ".dev" / "clickhouse"),
        "SCHEDULES_DEV_REDIS_PORT": str(ports["redis"]),
        "SCHEDULES_DEV_KAFKA_PORT": str(ports["kafka"]),
        "SCHEDULES_DEV_TEMPORAL_PORT": str(ports["temporal"]),
        "SCHEDULES_DEV_TEMPORAL_UI_PORT": str(ports["temporal_ui"]),
        "SCHEDULES_DEV_CLICKHOUSE_PORT": str(ports["clickhouse"]),
        "SCHEDULES_CLICKHOUSE_SHIM_PORT": str(ports["clickhouse"]),  # one endpoint, as by default
        "SCHEDULES_API_PORT": str(ports["api"]),
        "SCHEDULES_METRICS_PORT": str(ports["metrics"]),
        "SCHEDULES_LOG_FILE": str(log_file),
    }
    output = tmp / "dev.out"
    env_file = tmp / ".dev" / "env"
    with output.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "dev"], cwd=tmp, env=env, stdout=out, stderr=out
        )
    deadline = time.monotonic() + START_TIMEOUT
    while not env_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            tail = output.read_text(errors="replace")[-4000:]
            raise AssertionError(f"dev did not start:\n{tail}")
        time.sleep(0.1)
    running = Dev(process, tmp, output, log_file, env_file, read_env_file(env_file), ports)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    assert code == 0, running.output()[-4000:]
    assert not env_file.exists(), "dev leaves no stale .dev/env"
    assert "stopped the embedded services" in running.output()
