"""The OPA Data API refuses percent-encoded data paths."""

from __future__ import annotations

from typing import Any

import pytest
from tests.compatibility.gateway_support import GATEWAY_KEY


@pytest.mark.parametrize(
    "path", ["/v1/data/mcp%2Fgateway%2Fdecision", "/v1/data/mcp/gateway%2Fdecision"]
)
async def test_opa_data_refuses_percent_encoded_paths(gw: Any, path: str) -> None:
    """Regression: ``%2F`` was decoded before routing, so an encoded path was decided."""
    body = {"input": {"action": "gateway:tool:invoke", "subject": {"id": "admin"}}}
    response = await gw.post(path, json=body, headers={"X-API-Key": GATEWAY_KEY})
    assert response.status_code == 400, response.text
    assert "percent-encoded" in response.json()["detail"]
    plain = await gw.post(
        "/v1/data/mcp/gateway/decision", json=body, headers={"X-API-Key": GATEWAY_KEY}
    )
    assert plain.status_code == 200, plain.text
