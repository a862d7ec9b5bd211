"""Every metric is declared in scheduler/metrics.py with the schedules_ prefix, and the
README's metrics table lists each one as Prometheus exposes it."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

import scheduler.metrics as metrics

README = Path(__file__).resolve().parents[1] / "README.md"


def exposed_names() -> list[str]:
    names = []
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            suffix = "_total" if value._type == "counter" else ""
            names.append(value._name + suffix)
        elif isinstance(value, metrics.ScrapedGauge):  # read on scrape (scheduler.collector)
            names.append(value.name)
    return names


def test_metrics_have_the_prefix_and_are_documented() -> None:
    names = exposed_names()
    assert len(names) > 20
    assert "schedules_redis_pending" in names
    readme = README.read_text()
    for name in names:
        assert name.startswith("schedules_"), name
        assert f"| `{name}` |" in readme, f"README's metrics table lacks {name}"
