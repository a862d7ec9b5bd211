"""The Prometheus files of deploy/prometheus/, checked by the real promtool (Debian
package `prometheus`): the alert rules, both scrape configurations, and the rules' unit
tests (alerts.test.yml: synthetic series driving a queue-depth, the breaker, the error
rate and a sync-duration alert)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.deploy.test_expressions import dashboard_exprs
from tests.deploy.tools import DEPLOY, require, run

PROMETHEUS = DEPLOY / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    return require("promtool", "prometheus")


def _ok(promtool: str, *args: str) -> str:
    result = run([promtool, *args], cwd=PROMETHEUS)
    assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout + result.stderr


def test_alert_rules_are_valid(promtool: str) -> None:
    out = _ok(promtool, "check", "rules", "alerts.yml")
    assert "SUCCESS" in out


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-host.yml"])
def test_scrape_config_is_valid(promtool: str, config: str) -> None:
    # Also loads the rule files the config names (alerts.yml, beside it).
    out = _ok(promtool, "check", "config", config)
    assert "1 rule files found" in out


def test_alert_rule_unit_tests_pass(promtool: str) -> None:
    out = _ok(promtool, "test", "rules", "alerts.test.yml")
    assert "SUCCESS" in out


def test_dashboard_expressions_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    """Every dashboard query, as a recording rule (Grafana's $__rate_interval and
    $__range as 5m), passes promtool's PromQL parser."""
    exprs = [expr for _, expr in dashboard_exprs()]
    assert exprs
    rules = [
        {
            "record": f"dashboard:query_{i}",
            "expr": expr.replace("$__rate_interval", "5m").replace("$__range", "5m"),
        }
        for i, expr in enumerate(exprs)
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = _ok(promtool, "check", "rules", str(path))
    assert f"SUCCESS: {len(exprs)} rules found" in out
