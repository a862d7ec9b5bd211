from __future__ import annotations

import httpx
import pytest

from scheduler.settings import Settings
from tests.api.conftest import MakeClient

EVENT = {"topic": "t", "body": "x", "delay_seconds": 60}
MON = "/api/v1/schedules/monitoring"


@pytest.fixture
async def secured(make_client: MakeClient, settings: Settings) -> httpx.AsyncClient:
    return await make_client(settings.model_copy(update={"api_token": "s3cret"}))


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/schedules", EVENT),
        ("POST", "/api/v1/schedules/batch", {"events": [EVENT]}),
        ("DELETE", "/api/v1/schedules/x", None),
        ("POST", f"{MON}/sync", None),
        ("POST", f"{MON}/cleanup", None),
        ("POST", f"{MON}/pause", {"all": True}),
        ("POST", f"{MON}/resume", {"all": True}),
    ],
)
async def test_mutating_endpoints_need_the_token(
    secured: httpx.AsyncClient, method: str, path: str, body: object
) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
        r = await secured.request(method, path, json=body, headers=headers)
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["www-authenticate"] == "Bearer"


async def test_right_token_is_accepted(secured: httpx.AsyncClient) -> None:
    auth = {"Authorization": "Bearer s3cret"}
    r = await secured.post("/api/v1/schedules", json=EVENT | {"schedule_id": "a"}, headers=auth)
    assert r.status_code == 201
    assert (await secured.delete("/api/v1/schedules/a", headers=auth)).status_code == 200


async def test_reads_health_and_metrics_stay_open(secured: httpx.AsyncClient) -> None:
    for path in (f"{MON}/health", f"{MON}/metrics", f"{MON}/stats", "/api/v1/schedules/x"):
        assert (await secured.get(path)).status_code in (200, 404), path


async def test_no_token_configured_means_open(api: httpx.AsyncClient) -> None:
    assert (await api.post("/api/v1/schedules", json=EVENT)).status_code == 201
