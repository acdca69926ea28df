from __future__ import annotations

from litestar.testing import AsyncTestClient


async def test_unknown_route_is_a_problem_document(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/no/such/path", headers={"X-Request-ID": "req-1"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "urn:sark:problem:not-found"
    assert body["status"] == 404
    assert body["title"] == "Not Found"
    assert body["instance"] == "/no/such/path"


async def test_wrong_method_is_405_problem(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.post("/health")
    assert response.status_code == 405
    assert response.json()["type"] == "urn:sark:problem:method-not-allowed"
