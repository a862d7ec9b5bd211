from __future__ import annotations

import httpx

from scheduler.settings import Settings
from tests.api.conftest import MakeClient

URL = "/api/v1/schedules/monitoring"


def event(**kw: object) -> dict[str, object]:
    return {"topic": "t", "body": "x", "delay_seconds": 60, **kw}


async def test_health_healthy(hybrid_api: httpx.AsyncClient) -> None:
    r = await hybrid_api.get(f"{URL}/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "healthy", body
    assert set(body["components"]) == {"redis", "clickhouse", "kafka"}
    assert all(c["latency_ms"] >= 0 for c in body["components"].values())


async def test_health_degraded_when_kafka_is_down(
    make_client: MakeClient, settings: Settings
) -> None:
    from devstack.services import free_port

    api = await make_client(
        settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{free_port()}"})
    )
    r = await api.get(f"{URL}/health")
    assert r.status_code == 200
    assert r.json()["status"] == "degraded"
    assert r.json()["components"]["kafka"]["status"] == "down"


async def test_health_unhealthy_when_redis_is_down(
    make_client: MakeClient, settings: Settings
) -> None:
    api = await make_client(settings)
    service = api._transport.app.state.service  # type: ignore[attr-defined]
    await service.runtime.redis.aclose()
    service.runtime.redis = service.runtime.redis.from_url("redis://127.0.0.1:1/0")
    r = await api.get(f"{URL}/health")
    assert r.status_code == 503
    assert r.json()["status"] == "unhealthy"
    assert r.json()["components"]["redis"]["status"] == "down"


async def test_stats_has_the_runbook_fields(hybrid_api: httpx.AsyncClient) -> None:
    await hybrid_api.post("/api/v1/schedules", json=event())
    await hybrid_api.post("/api/v1/schedules", json=event(delay_seconds=5 * 86400))
    body = (await hybrid_api.get(f"{URL}/stats")).json()
    assert body["redis_pending"] == 1
    assert body["pending"] == 1
    assert body["in_flight"] == 0
    assert body["dead_lettered"] == 0
    assert body["running"] == {}
    assert body["levels"] == {"redis_pending": "normal", "pending": "normal"}


async def test_metrics_is_prometheus_text(api: httpx.AsyncClient) -> None:
    await api.post("/api/v1/schedules", json=event())
    r = await api.get(f"{URL}/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert 'schedules_events_scheduled_total{source="http",tier="hot"}' in r.text
    await api.get("/api/v1/schedules/some-id")
    r = await api.get(f"{URL}/metrics")
    assert (
        'schedules_http_requests_total{method="GET",route="/api/v1/schedules/{schedule_id}",'
        'status="404"}' in r.text
    )
    assert "some-id" not in r.text


async def test_sync_and_cleanup_in_process(hybrid_api: httpx.AsyncClient) -> None:
    r = await hybrid_api.post(f"{URL}/sync")
    assert r.status_code == 200, r.text
    assert r.json()["via"] == "in_process"
    assert r.json()["transferred"] == 0
    r = await hybrid_api.post(f"{URL}/cleanup")
    assert r.status_code == 200, r.text
    assert r.json()["hot_orphans"] == 0


async def test_sync_without_cold_tier_is_409(api: httpx.AsyncClient) -> None:
    r = await api.post(f"{URL}/sync")
    assert r.status_code == 409
    assert "SCHEDULES_COLD_TIER_ENABLED" in r.json()["detail"]
    assert (await api.get(f"{URL}/analytics/summary")).status_code == 409


async def test_bad_analytics_input_is_422_also_without_cold_tier(api: httpx.AsyncClient) -> None:
    """The query is checked before the missing cold tier is reported."""
    r = await api.get(f"{URL}/analytics/summary", params={"hours": 0})
    assert r.status_code == 422
    r = await api.get(
        f"{URL}/analytics/performance",
        params={"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"},
    )
    assert r.status_code == 422
    assert r.json()["field"] == "start"
    assert (await api.get(f"{URL}/analytics/performance")).status_code == 409


async def test_analytics(hybrid_api: httpx.AsyncClient) -> None:
    r = await hybrid_api.get(f"{URL}/analytics/summary", params={"hours": 1})
    assert r.status_code == 200, r.text
    assert r.json()["hours"] == 1
    assert r.json()["figures"]["total"] == 0
    r = await hybrid_api.get(
        f"{URL}/analytics/performance", params={"hours": 24, "entity_type": "user", "topic": "t"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["entity_type"] == "user"
    assert r.json()["totals"]["total"] == 0


async def test_analytics_bad_input_is_422(hybrid_api: httpx.AsyncClient) -> None:
    r = await hybrid_api.get(f"{URL}/analytics/summary", params={"hours": 0})
    assert (r.status_code, r.json()["field"]) == (422, "hours")
    r = await hybrid_api.get(
        f"{URL}/analytics/performance",
        params={"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
    )
    assert (r.status_code, r.json()["field"]) == (422, "start")
    r = await hybrid_api.get(f"{URL}/analytics/performance", params={"end": "0001-01-01T00:00"})
    assert (r.status_code, r.json()["field"]) == (422, "end")
