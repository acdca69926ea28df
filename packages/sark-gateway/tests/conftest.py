"""Fixtures of the gateway plugin tests: an enabled app on both databases, with OPA."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from tests.compatibility.gateway_support import ENABLED, app_client, gateway_settings
from tests.support.identity import admin_headers


@pytest.fixture(name="gateway_env")
def fixture_gateway_env(opa_url: str) -> dict[str, str]:
    """Gateway and A2A on; decisions by the session OPA server (SARK pushes the bundle)."""
    return {**ENABLED, "SARK_OPA_URL": opa_url}


@pytest.fixture(name="gw")
async def fixture_gw(
    tmp_path: Path, database_url: str, gateway_env: dict[str, str]
) -> AsyncIterator[AsyncTestClient[Any]]:
    """A client of an app with the gateway enabled, on SQLite and PostgreSQL."""
    async with app_client(gateway_settings(tmp_path, database_url, gateway_env)) as client:
        yield client


PG_SERVER = {
    "name": "pg",
    "transport": "http",
    "endpoint": "http://127.0.0.1:9/mcp",
    "sensitivity_level": "medium",
    "team": "payments",
    "tools": [
        {"name": "run_query", "sensitivity_level": "low"},
        {"name": "drop_table", "sensitivity_level": "high"},
        {"name": "shared_tool", "sensitivity_level": "low"},
    ],
}
VAULT_SERVER = {
    "name": "vault",
    "transport": "http",
    "endpoint": "http://127.0.0.1:9/vault",
    "sensitivity_level": "critical",
    "team": "security",
    "tools": [
        {"name": "read_secret", "sensitivity_level": "critical"},
        {"name": "shared_tool", "sensitivity_level": "low"},
    ],
}


async def register(client: AsyncTestClient[Any], *servers: dict[str, Any]) -> None:
    """Register ``servers`` as admin."""
    admin = await admin_headers(client)
    for server in servers:
        response = await client.post("/api/v1/servers", json=server, headers=admin)
        assert response.status_code == 201, response.text
