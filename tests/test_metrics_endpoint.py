"""Metrics on every role: one /metrics endpoint per process (SCHEDULES_METRICS_PORT,
scheduler.metrics_endpoint), whatever roles it runs, serving the registry the API's
.../monitoring/metrics serves too."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import role_process

from devstack.services import free_port
from scheduler.settings import Settings
from tests.scraping import MON, QUEUE_GAUGES, get, samples, wait_for

# --- the endpoint of a real process ----------------------------------------------------


def test_one_endpoint_serves_every_role_of_a_process(settings: Settings, tmp_path: Path) -> None:
    metrics_port, api_port = free_port(), free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as err:
        proc = role_process(
            settings,
            ["executor", "consumer", "api"],
            stderr=err,
            SCHEDULES_METRICS_PORT=str(metrics_port),
            SCHEDULES_METRICS_HOST="127.0.0.1",
            SCHEDULES_API_PORT=str(api_port),
        )
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        wait_for(f"http://127.0.0.1:{api_port}{MON}/health", proc)
        # The executor's metrics and the gauges read from Redis.
        wait_for(url, proc, *QUEUE_GAUGES, "schedules_circuit_breaker_state")
        # The API's route serves the same registry: its requests show on /metrics.
        via_api = samples(get(f"http://127.0.0.1:{api_port}{MON}/metrics"))
        assert set(QUEUE_GAUGES) <= set(via_api)
        scraped = samples(get(url))
        route = f'method="GET",route="{MON}/metrics",status="200"'
        assert scraped[f"schedules_http_requests_total{{{route}}}"] >= 1
        # The collector's pauses (scheduler.gcpause): start-up ends with a full collection.
        assert scraped['schedules_gc_pause_seconds_count{generation="2"}'] >= 1
        started = next(
            line for line in log.read_text().splitlines() if "hybrid-scheduler started" in line
        )
        assert "roles executor, consumer" in started
        assert f"Prometheus metrics on {url}" in started

        # A second process on the same port stops at once, naming the setting.
        second = role_process(
            settings,
            "executor",
            stderr=subprocess.PIPE,
            SCHEDULES_METRICS_PORT=str(metrics_port),
            SCHEDULES_METRICS_HOST="127.0.0.1",
        )
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1, err
        assert b"SCHEDULES_METRICS_PORT" in err and b"in use" in err, err
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
