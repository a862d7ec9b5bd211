"""/openapi.json carries examples (shown by /docs), and they are true: every request example
is accepted by the API, every response example matches its documented schema."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import schemathesis

URL = "/api/v1/schedules"
JSON = "application/json"


def request_examples(doc: dict[str, Any], path: str, method: str = "post") -> dict[str, Any]:
    examples: dict[str, Any] = doc["paths"][path][method]["requestBody"]["content"][JSON][
        "examples"
    ]
    return {name: example["value"] for name, example in examples.items()}


def response_example(doc: dict[str, Any], path: str, method: str, status: int) -> Any:
    return doc["paths"][path][method]["responses"][str(status)]["content"][JSON]["example"]


async def test_the_schedule_examples(hybrid_api: httpx.AsyncClient) -> None:
    doc = (await hybrid_api.get("/openapi.json")).json()
    single = request_examples(doc, URL)
    assert set(single) == {"delay", "at", "idempotent", "replace"}
    assert "delay_seconds" in single["delay"]
    assert "scheduled_at" in single["at"]
    assert {"schedule_id", "headers", "priority"} <= set(single["idempotent"])
    for name, event in single.items():
        r = await hybrid_api.post(URL, json=event)
        assert r.status_code == 201, (name, r.text)
    r = await hybrid_api.post(URL, json=single["idempotent"])
    assert (r.status_code, r.json()["created"]) == (200, False)

    (batch,) = request_examples(doc, f"{URL}/batch").values()
    assert len(batch["events"]) == 2
    r = await hybrid_api.post(f"{URL}/batch", json=batch)
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["rejected"]) == (2, 0), r.text


def with_path_examples(path: str, operation: dict[str, Any]) -> str:
    """`path` with each path parameter replaced by its schema's first example."""
    for param in operation.get("parameters", []):
        if param["in"] == "path" and f"{{{param['name']}}}" in path:
            path = path.replace(f"{{{param['name']}}}", str(param["schema"]["examples"][0]))
    return path


async def test_every_request_example_is_accepted(hybrid_api: httpx.AsyncClient) -> None:
    doc = (await hybrid_api.get("/openapi.json")).json()
    posted = 0
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {}).get(JSON, {})
            for name, example in content.get("examples", {}).items():
                target = path
                if "{schedule_id}" in path:  # a schedule of its own to change
                    sid = f"example-{posted}"
                    new = {"topic": "t", "body": "x", "delay_seconds": 60, "schedule_id": sid}
                    assert (await hybrid_api.post(URL, json=new)).status_code == 201
                    target = path.replace("{schedule_id}", sid)
                url = with_path_examples(target, operation)
                r = await hybrid_api.request(method, url, json=example["value"])
                assert 200 <= r.status_code < 300, (method, path, name, r.text)
                posted += 1
    assert posted >= 4


async def test_the_main_responses_have_examples(api: httpx.AsyncClient) -> None:
    doc = (await api.get("/openapi.json")).json()
    one = f"{URL}/{{schedule_id}}"
    monitoring = f"{URL}/monitoring"
    created = response_example(doc, URL, "post", 201)
    assert created["created"] is True
    assert response_example(doc, URL, "post", 200)["created"] is False
    assert response_example(doc, URL, "post", 422)["field"] == "delay_seconds"
    assert response_example(doc, one, "get", 200)["schedule_id"] == created["schedule_id"]
    assert "detail" in response_example(doc, one, "get", 404)
    assert "detail" in response_example(doc, one, "delete", 404)
    assert "already" in response_example(doc, one, "delete", 409)["detail"]
    assert response_example(doc, one, "patch", 200)["schedule_id"] == created["schedule_id"]
    assert "in flight" in response_example(doc, one, "patch", 409)["detail"]
    assert "detail" in response_example(doc, one, "patch", 404)
    assert {"pending", "redis_pending", "running"} <= set(
        response_example(doc, f"{monitoring}/stats", "get", 200)
    )
    assert response_example(doc, f"{monitoring}/health", "get", 200)["status"] == "healthy"
    assert response_example(doc, f"{monitoring}/health", "get", 503)["status"] == "unhealthy"


async def test_every_response_example_matches_its_schema(api: httpx.AsyncClient) -> None:
    doc = (await api.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(doc)
    checked = 0
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                for media_type, content in response.get("content", {}).items():
                    if "example" not in content or media_type != JSON:
                        continue
                    example = httpx.Response(
                        int(status),
                        json=content["example"],
                        request=httpx.Request(method.upper(), f"http://test{path}"),
                    )
                    example.elapsed = timedelta(0)
                    schema[path][method.upper()].validate_response(example)
                    checked += 1
    assert checked >= 15
