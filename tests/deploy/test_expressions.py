"""The dashboard and the alert rules name only metrics that scheduler/metrics.py declares,
with their own labels, and they cover what the operator runbook watches.

Metric names are parsed out of each PromQL expression with regular expressions (strings,
label matchers, ranges and grouping clauses removed first; a name followed by `(` is a
function or an aggregation). The declared names are those prometheus_client exposes for
scheduler.metrics: a counter `x_total`, a histogram `x_bucket`, `x_sum` and `x_count`, a
gauge `x` (and a ScrapedGauge, read from the stores on scrape, `x`).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from scheduler import metrics
from tests.deploy.tools import DEPLOY

ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "hybrid-scheduler.json"
DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"

# Labels every scraped series has, besides the metric's own.
TARGET_LABELS = {"job", "instance"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)", re.IGNORECASE
)
_VARIABLE = re.compile(r"\$\{?\w+\}?")
_IDENT = re.compile(r"(?<![\w.:$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?!\w)(\s*\()?")
_SELECTOR = re.compile(r"(?<![\w.:$])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^{}]*)\}")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
    "group_right", "offset", "bool", "inf", "nan", "atan2",
}  # fmt: skip


def declared() -> dict[str, tuple[str, ...]]:
    """Every series name scheduler.metrics exposes -> the metric's label names."""
    names: dict[str, tuple[str, ...]] = {}
    for value in vars(metrics).values():
        if isinstance(value, metrics.ScrapedGauge):  # read on scrape: unlabelled gauges
            names[value.name] = ()
            continue
        if not isinstance(value, MetricWrapperBase):
            continue
        base, kind = value._name, value._type
        labels = tuple(value._labelnames)
        if kind == "counter":
            names[f"{base}_total"] = labels
        elif kind == "gauge":
            names[base] = labels
        elif kind == "histogram":
            names[f"{base}_bucket"] = (*labels, "le")
            names[f"{base}_sum"] = labels
            names[f"{base}_count"] = labels
        else:  # a summary or another kind: teach this test its series names
            raise AssertionError(f"{base}: metric type {kind} not handled here")
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _VARIABLE.sub(" ", text)
    found = set()
    for match in _IDENT.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue  # a function, an aggregation or a keyword
        found.add(name)
    return found


def matcher_labels(expr: str) -> list[tuple[str, str]]:
    """(metric, label) for each label matcher written on a metric selector."""
    pairs = []
    text = _STRING.sub('""', expr)
    for match in _SELECTOR.finditer(text):
        for label in _MATCHER_LABEL.findall(match.group(2)):
            pairs.append((match.group(1), label))
    return pairs


def grouping_labels(expr: str) -> set[str]:
    labels: set[str] = set()
    for match in _GROUPING.finditer(_STRING.sub('""', expr)):
        labels.update(part.strip() for part in match.group(1).split(",") if part.strip())
    return labels


def alert_rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(ALERTS.read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def dashboard_panels() -> list[dict[str, Any]]:
    panels = []
    for panel in dashboard()["panels"]:
        if panel["type"] == "row":
            panels.extend(panel.get("panels", []))
        else:
            panels.append(panel)
    return panels


def dashboard_exprs() -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in dashboard_panels()
        for target in panel.get("targets", [])
    ]


def all_exprs() -> list[tuple[str, str]]:
    rules = [(f"alert {rule['alert']}", rule["expr"]) for rule in alert_rules()]
    return rules + [(f"panel {title!r}", expr) for title, expr in dashboard_exprs()]


# --- the parser itself ----------------------------------------------------------------


def test_parser_finds_metric_names_and_ignores_the_rest() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, route) (rate(schedules_http_request_seconds_bucket"
        '{route=~"/api/.*", job="api"}[$__rate_interval]))) > 1e3 '
        "and on (instance) max_over_time(schedules_circuit_breaker_state[5m] offset 1m) "
        "/ sum without (outcome) (schedules_events_executed_total) * 60"
    )
    assert metric_names(expr) == {
        "schedules_http_request_seconds_bucket",
        "schedules_circuit_breaker_state",
        "schedules_events_executed_total",
    }
    assert matcher_labels(expr) == [
        ("schedules_http_request_seconds_bucket", "route"),
        ("schedules_http_request_seconds_bucket", "job"),
    ]
    assert grouping_labels(expr) == {"le", "route", "instance", "outcome"}


def test_parser_catches_an_undeclared_metric() -> None:
    names = metric_names("sum(rate(schedules_no_such_metric_seconds[5m]))")
    assert names == {"schedules_no_such_metric_seconds"}
    assert not names <= set(declared())


def test_declared_series_names() -> None:
    names = declared()
    assert "schedules_events_executed_total" in names  # a counter
    assert "schedules_redis_pending" in names  # a gauge
    assert {"schedules_sync_seconds_bucket", "schedules_sync_seconds_count"} <= set(names)
    assert names["schedules_events_executed_total"] == ("outcome",)
    assert "schedules_sync_seconds" not in names  # a histogram has no bare series


# --- the files ------------------------------------------------------------------------


@pytest.mark.parametrize(("where", "expr"), all_exprs(), ids=lambda v: str(v)[:60])
def test_expression_names_only_declared_metrics(where: str, expr: str) -> None:
    names = declared()
    found = metric_names(expr)
    assert found, f"{where}: no metric found in {expr!r}"
    unknown = found - set(names)
    assert not unknown, f"{where}: not in scheduler/metrics.py: {sorted(unknown)}"
    for metric, label in matcher_labels(expr):
        allowed = set(names[metric]) | TARGET_LABELS
        assert label in allowed, f"{where}: {metric} has no label {label!r}"
    every_label = {label for labels in names.values() for label in labels} | TARGET_LABELS
    assert grouping_labels(expr) <= every_label, f"{where}: unknown grouping label"


def test_outcome_values_are_the_executors() -> None:
    """outcome="..." on schedules_events_executed_total is an OutcomeStatus value."""
    from scheduler.hot.outcome import OutcomeStatus

    pattern = re.compile(r'schedules_events_executed_total\{[^}]*outcome=~?"([^"]*)"')
    used = {
        value
        for _, expr in all_exprs()
        for alternatives in pattern.findall(expr)
        for value in alternatives.split("|")
    }
    assert used, "no outcome matcher found"
    assert used <= {status.value for status in OutcomeStatus}


def test_every_alert_is_annotated_with_a_runbook_link() -> None:
    rules = alert_rules()
    assert len(rules) >= 15
    for rule in rules:
        annotations = rule.get("annotations", {})
        assert {"summary", "description", "runbook_url"} <= set(annotations), rule["alert"]
        assert re.fullmatch(r"docs/operations\.md#[a-z0-9-]+", annotations["runbook_url"])
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]


# The runbook's thresholds ("Primary Health Indicators" and
# "Issue 3"): alert -> (the metric it reads, the number it compares with).
RUNBOOK_THRESHOLDS = {
    "SchedulesRedisPendingWarning": ("schedules_redis_pending", "10000"),
    "SchedulesRedisPendingHigh": ("schedules_redis_pending", "50000"),
    "SchedulesRedisPendingCritical": ("schedules_redis_pending", "100000"),
    "SchedulesColdPendingWarning": ("schedules_cold_pending", "100000"),
    "SchedulesColdPendingHigh": ("schedules_cold_pending", "500000"),
    "SchedulesColdPendingCritical": ("schedules_cold_pending", "1000000"),
    "SchedulesExecutionDelayWarning": ("schedules_firing_lateness_seconds_bucket", "30"),
    "SchedulesExecutionDelayHigh": ("schedules_firing_lateness_seconds_bucket", "120"),
    "SchedulesExecutionDelayCritical": ("schedules_firing_lateness_seconds_bucket", "300"),
    "SchedulesSyncDurationWarning": ("schedules_sync_seconds_bucket", "60"),
    "SchedulesSyncDurationHigh": ("schedules_sync_seconds_bucket", "180"),
    "SchedulesSyncDurationCritical": ("schedules_sync_seconds_bucket", "300"),
    "SchedulesErrorRateHigh": ("schedules_events_executed_total", "0.05"),
    "SchedulesCircuitBreakerOpen": ("schedules_circuit_breaker_state", "2"),
}


@pytest.mark.parametrize("alert", sorted(RUNBOOK_THRESHOLDS))
def test_runbook_threshold_has_an_alert(alert: str) -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert alert in rules
    metric, number = RUNBOOK_THRESHOLDS[alert]
    expr = rules[alert]["expr"]
    assert metric in metric_names(expr)
    assert number in re.findall(r"\d+(?:\.\d+)?", expr), f"{alert}: {number} not in {expr!r}"


def _steps(panel: dict[str, Any]) -> list[float]:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [step["value"] for step in steps if step["value"] is not None]


@pytest.mark.parametrize(
    ("metric", "levels"),
    [
        ("schedules_redis_pending", [10000, 50000, 100000]),
        ("schedules_cold_pending", [100000, 500000, 1000000]),
        ("schedules_firing_lateness_seconds_bucket", [30, 120, 300]),
        ("schedules_sync_seconds_bucket", [60, 180, 300]),
    ],
)
def test_dashboard_shows_the_runbook_levels(metric: str, levels: list[float]) -> None:
    panels = [
        panel
        for panel in dashboard_panels()
        if any(metric in metric_names(target["expr"]) for target in panel["targets"])
        and panel["fieldConfig"]["defaults"].get("thresholds")
    ]
    assert panels, f"no panel with thresholds shows {metric}"
    assert any(_steps(panel) == levels for panel in panels)


def test_dashboard_covers_what_the_runbook_watches() -> None:
    used = set().union(*(metric_names(expr) for _, expr in dashboard_exprs()))
    assert {
        "schedules_redis_pending",
        "schedules_cold_pending",
        "schedules_firing_lateness_seconds_bucket",
        "schedules_events_executed_total",
        "schedules_sync_transferred_total",
        "schedules_sync_seconds_bucket",
        "schedules_dead_letters_total",
        "schedules_circuit_breaker_state",
        "schedules_http_requests_total",
        "schedules_http_request_seconds_bucket",
    } <= used


def test_dashboard_uses_the_provisioned_data_source() -> None:
    provisioned = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    uids = {source["uid"] for source in provisioned if source["type"] == "prometheus"}
    panels = dashboard_panels()
    assert panels
    for panel in panels:
        assert panel["datasource"]["uid"] in uids, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in uids, panel["title"]
            assert target["expr"].strip(), panel["title"]
    ids = [panel["id"] for panel in dashboard()["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
