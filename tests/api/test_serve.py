"""`hybrid-scheduler serve --role api` as a real process, driven by the operator
runbook's HTTP commands (curl and jq, as written there)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from devstack.services import free_port
from scheduler.settings import Settings

MON = "http://localhost:{port}/api/v1/schedules/monitoring"


def sh(command: str) -> str:
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command}"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    return done.stdout.strip()


def test_runbook_http_commands_against_serve(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": settings.redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "SCHEDULES_REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "SCHEDULES_API_PORT": str(port),
        "SCHEDULES_COLD_TIER_ENABLED": "true",
        "SCHEDULES_CLICKHOUSE_PATH": str(tmp_path / "ch"),
        "SCHEDULES_CLICKHOUSE_AUTO_MIGRATE": "true",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--role", "api"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "serve.log", "w"),  # noqa: SIM115
    )
    mon = MON.format(port=port)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{mon}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API did not come up"
            time.sleep(0.2)

        sh(f"curl -f {mon}/health")
        httpx.post(
            f"http://localhost:{port}/api/v1/schedules",
            json={"topic": "t", "body": "x", "delay_seconds": 600},
        ).raise_for_status()
        assert sh(f"curl -s {mon}/stats | jq '.redis_pending'") == "1"
        assert sh(f"curl -s {mon}/stats | jq '.pending'") == "0"
        assert sh(f"curl -s {mon}/stats | jq '.running'") == "{}"
        assert sh(f"curl -s {mon}/stats | jq -r '.redis_pending // 0'") == "1"
        sh(f"curl -s {mon}/stats | jq '.'")
        assert "schedules_" in sh(f"curl -s {mon}/metrics")
        assert sh(f"curl -s '{mon}/analytics/summary?hours=1' | jq '.hours'") == "1"
        sh(f"curl -s '{mon}/analytics/performance?hours=24' | jq '.totals'")
        assert '"job":"sync"' in sh(f"curl -f -X POST {mon}/sync")
        assert '"job":"cleanup"' in sh(f"curl -f -X POST -s {mon}/cleanup")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, (tmp_path / "serve.log").read_text()
