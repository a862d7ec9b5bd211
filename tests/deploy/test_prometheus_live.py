"""A real Prometheus (Debian package `prometheus`) scraping a real product process.

`hybrid-scheduler serve --role executor --role api` runs on the session's Redis and
Kafka with its metrics endpoint on a free port; Prometheus scrapes it every second and
evaluates, every second, a copy of deploy/prometheus/alerts.yml in which one threshold is
lowered (SchedulesRedisPendingWarning: more than 5 events pending, for 1 s). Then:

- the target is up (/api/v1/targets);
- after two waves of events have fired, the core queries have series with real values:
  the queue gauges, the fired-per-minute rate, the firing lateness quantiles;
- every dashboard expression and every alert expression evaluates through /api/v1/query
  without error (some have no series here: no cold tier, no sync, no dead letters), and
  every rule of the loaded file evaluates without error (/api/v1/rules);
- with everything paused and a few due events scheduled, the deliberate alert fires
  (/api/v1/alerts).

Nothing sleeps for a fixed time: each step polls with a deadline. About 20 s.
"""

from __future__ import annotations

import math
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from conftest import role_process

from devstack.services import free_port
from scheduler.settings import Settings
from tests.deploy.test_expressions import ALERTS, alert_rules, dashboard_exprs
from tests.deploy.tools import require
from tests.scraping import MON

LOWERED = "SchedulesRedisPendingWarning"  # > 10000 for 10m in alerts.yml
LOWERED_THRESHOLD = 5
# Grafana's interval variables, as a window covering the whole test.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "1m", "$__interval": "1m"}
T = TypeVar("T")


def until(check: Callable[[], T | None], what: str, timeout: float = 30) -> T:
    """Poll `check()` until it returns something other than None/False; its value."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = check()
        except (httpx.HTTPError, AssertionError) as exc:
            value, last = None, exc
        if value is not None and value is not False:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s (last: {last!r})"
        time.sleep(0.2)


def lowered_rules(path: Path) -> None:
    """alerts.yml with LOWERED's threshold at LOWERED_THRESHOLD, for 1 s."""
    data = yaml.safe_load(ALERTS.read_text())
    found = [r for g in data["groups"] for r in g["rules"] if r.get("alert") == LOWERED]
    assert len(found) == 1
    rule = found[0]
    assert rule["expr"].strip().endswith("> 10000"), rule["expr"]
    rule["expr"] = re.sub(r"> 10000\s*$", f"> {LOWERED_THRESHOLD}", rule["expr"].strip())
    rule["for"] = "1s"
    path.write_text(yaml.safe_dump(data, sort_keys=False))


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=5)

    def api(self, path: str, **params: str) -> Any:
        r = self.http.get(f"/api/v1/{path}", params=params)
        body = r.json()
        assert r.status_code == 200 and body["status"] == "success", (path, params, body)
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector (or scalar, as one sample) `expr` evaluates to now."""
        data = self.api("query", query=expr)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def value(self, expr: str) -> float | None:
        """The value of a one-series expression; None while it has no series."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None


@pytest.fixture
def product(settings: Settings, tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """`serve --role executor --role api`; yields (API URL, metrics target, its log)."""
    api_port, metrics_port = free_port(), free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as err:
        proc = role_process(
            settings,
            ["executor", "api"],
            stderr=err,
            SCHEDULES_API_PORT=str(api_port),
            SCHEDULES_METRICS_PORT=str(metrics_port),
            SCHEDULES_METRICS_HOST="127.0.0.1",
            SCHEDULES_REDIS_PROCESSING_INTERVAL="0.5",
        )
    try:
        url = f"http://127.0.0.1:{api_port}"

        def healthy() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"serve exited ({proc.returncode}):\n{log.read_text()}")
            return httpx.get(f"{url}{MON}/health", timeout=2).status_code == 200

        until(healthy, "the API answers", timeout=60)
        yield url, f"127.0.0.1:{metrics_port}", log
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def prometheus(product: tuple[str, str, Path], tmp_path: Path) -> Iterator[Prometheus]:
    """A real Prometheus scraping `product` every second with the lowered rules."""
    binary = require("prometheus", "prometheus")
    _, target, _ = product
    lowered_rules(tmp_path / "alerts.yml")
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": ["alerts.yml"],
        "scrape_configs": [{"job_name": "executor", "static_configs": [{"targets": [target]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = tmp_path / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-lifecycle",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=out,
        )
    server = Prometheus(f"http://127.0.0.1:{port}")
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"prometheus exited ({proc.returncode}):\n{log.read_text()}")
            return server.http.get("/-/ready").status_code == 200

        until(ready, "Prometheus ready", timeout=30)
        yield server
    finally:
        server.http.close()
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode is not None  # stopped


def schedule(api: httpx.Client, topic: str, n: int, prefix: str) -> None:
    at = datetime.now(UTC).isoformat()
    for i in range(n):
        event = {"topic": topic, "body": f"{prefix}{i}", "scheduled_at": at}
        assert api.post("/api/v1/schedules", json=event).status_code == 201


def test_prometheus_scrapes_the_product_and_evaluates_every_expression(
    product: tuple[str, str, Path], prometheus: Prometheus, uid: str
) -> None:
    api_url, target, _ = product
    api = httpx.Client(base_url=api_url, timeout=10)
    topic = f"live-{uid}"

    def target_up() -> bool:
        active = prometheus.api("targets")["activeTargets"]
        assert [t["scrapeUrl"] for t in active] == [f"http://{target}/metrics"], active
        return active[0]["health"] == "up"

    until(target_up, "the product's target is up")

    # Two waves: the first creates the outcome="success" series, the second increases it
    # where Prometheus sees it, so the rate is above zero.
    schedule(api, topic, 1, "first-")
    success = 'schedules_events_executed_total{outcome="success"}'
    until(lambda: prometheus.value(success) == 1, "the first event fired and was scraped")
    schedule(api, topic, 5, "second-")
    until(lambda: prometheus.value(success) == 6, "the second wave fired and was scraped")

    # The core: series with real values.
    assert prometheus.value("max(schedules_redis_pending)") == 0
    assert prometheus.value("max(schedules_in_flight)") == 0
    assert prometheus.value("max(schedules_pauses)") == 0
    fired = prometheus.value(f"sum(rate({success}[1m])) * 60")
    assert fired is not None and fired > 0
    for q in ("0.50", "0.95", "0.99"):
        lateness = prometheus.value(
            f"histogram_quantile({q}, sum by (le) "
            "(rate(schedules_firing_lateness_seconds_bucket[1m])))"
        )
        assert lateness is not None and math.isfinite(lateness) and 0 <= lateness < 30, q

    # Every dashboard and alert expression evaluates; the core panels have series.
    exprs = [(f"panel {title!r}", expr) for title, expr in dashboard_exprs()]
    exprs += [(f"alert {rule['alert']}", rule["expr"]) for rule in alert_rules()]
    with_series = set()
    for where, expr in exprs:
        for variable, window in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, window)
        if prometheus.query(expr):  # asserts status "success"
            with_series.add(where)
    core = {
        "panel 'Redis pending (hot tier)'",
        "panel 'In flight, held, pauses'",
        "panel 'Execution delay (firing lateness)'",
        "panel 'Fired, failed, skipped, retried per minute'",
        "panel 'Claims and lost executors'",
        "panel 'Circuit breaker (worst executor)'",
        "panel 'HTTP requests per second'",
        "panel 'HTTP latency p95 by route'",
    }
    assert core <= with_series, sorted(core - with_series)

    # Every rule Prometheus loaded evaluates without error.
    groups = prometheus.api("rules")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == len(alert_rules())
    assert all(rule["health"] == "ok" for rule in rules), [
        (rule["name"], rule.get("lastError")) for rule in rules if rule["health"] != "ok"
    ]

    # The deliberate alert: everything paused, due events pile up past the threshold.
    assert api.post(f"{MON}/pause", json={"all": True, "reason": "alert test"}).status_code == 200
    schedule(api, topic, LOWERED_THRESHOLD + 3, "held-")

    def firing() -> dict[str, Any] | None:
        alerts = prometheus.api("alerts")["alerts"]
        return next(
            (a for a in alerts if a["labels"]["alertname"] == LOWERED and a["state"] == "firing"),
            None,
        )

    alert = until(firing, f"{LOWERED} firing")
    assert float(alert["value"]) == LOWERED_THRESHOLD + 3
    assert alert["labels"]["severity"] == "warning"
    assert alert["annotations"]["runbook_url"] == "docs/operations.md#queue-depth"
    others = [a["labels"]["alertname"] for a in prometheus.api("alerts")["alerts"]]
    assert others == [LOWERED], others  # nothing else fires on this healthy product
    api.close()
