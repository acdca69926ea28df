"""Page sizes of the identity listings are bounded (``pagination.Limit``)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from tests.support.identity import admin_headers


@pytest.mark.parametrize("path", ["/api/v1/users", "/api/v1/teams", "/api/v1/api-keys"])
async def test_page_size_is_bounded(client: AsyncTestClient[Any], path: str) -> None:
    """Regression: wrapped in ``FromQuery`` the bounds were lost; ``limit=-1`` was a 500 on
    PostgreSQL and an unbounded page on SQLite."""
    admin = await admin_headers(client)
    for limit in ("-1", "0", "501"):
        response = await client.get(path, params={"limit": limit}, headers=admin)
        assert response.status_code == 400, (limit, response.text)
    assert (await client.get(path, params={"limit": "500"}, headers=admin)).status_code == 200
    schema = (await client.get("/schema/openapi.json")).json()
    (limit_param,) = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "limit"]
    assert limit_param["schema"]["minimum"] == 1
    assert limit_param["schema"]["maximum"] == 500
