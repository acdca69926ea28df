"""SARK 1.0 is unchanged by the gateway plugin: absent == installed-but-disabled.

"Identical" means: the OpenAPI document (``/schema/openapi.json``) is equal as JSON, and
every 1.0 response compared here has the same status and body (after removing values
that differ between any two runs: ids, tokens, timestamps). The plugin's routes exist
when it is installed but stay out of the OpenAPI document while the gateway is disabled.
With the gateway enabled, every 1.0 path and schema of the document is still the same;
the plugin only adds its own.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from tests.compatibility.gateway_support import ENABLED, INSTALLED, app_client, gateway_settings
from tests.support.identity import admin_headers, api_key_headers, login_headers

from sark.api import create_app
from sark.api.db import migrations
from sark.core.errors import ConfigError
from sark.core.settings import Settings

NOT_ENABLED = "Gateway integration not enabled. Set GATEWAY_ENABLED=true to enable."
GATEWAY_PATHS = [
    ("POST", "/api/v1/gateway/authorize"),
    ("POST", "/api/v1/gateway/authorize-a2a"),
    ("GET", "/api/v1/gateway/servers"),
    ("GET", "/api/v1/gateway/tools"),
    ("POST", "/api/v1/gateway/audit"),
    ("POST", "/api/v1/gateway/sync"),
    ("POST", "/api/v1/gateway/agents/token"),
    ("GET", "/.well-known/authzen-configuration"),
    ("POST", "/access/v1/evaluation"),
    ("POST", "/access/v1/evaluations"),
    ("POST", "/v1/data/mcp/gateway/decision"),
]
_VOLATILE = re.compile(
    r"(?i)^(id|.*_id|.*_at|owner|token|access_token|refresh_token|key|request_id|username|expires_in|latency_ms)$"
)


def scrub(value: Any) -> Any:
    """``value`` without the fields that differ between two identical runs."""
    if isinstance(value, dict):
        return {k: ("*" if _VOLATILE.match(k) else scrub(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


async def _openapi(settings: Settings, plugins: Any) -> dict[str, Any]:
    # The document the app serves at /schema/openapi.json, built without serving it
    # (GET /schema/openapi.json currently leaks an aiosqlite connection in sark.api).
    app = create_app(settings, plugins=INSTALLED if plugins is None else plugins)
    document: dict[str, Any] = app.openapi_schema.to_schema()
    return document


async def test_openapi_document_is_identical_absent_and_disabled(
    tmp_path: Path, database_url: str
) -> None:
    settings = gateway_settings(tmp_path, database_url)
    absent = await _openapi(settings, {})
    disabled = await _openapi(settings, None)
    assert disabled == absent
    assert not any(
        p.startswith(("/api/v1/gateway", "/access", "/v1/data")) for p in absent["paths"]
    )


async def test_enabled_gateway_only_adds_to_the_document(tmp_path: Path, database_url: str) -> None:
    absent = await _openapi(gateway_settings(tmp_path, database_url), {})
    enabled = await _openapi(gateway_settings(tmp_path, database_url, ENABLED), None)
    for path, item in absent["paths"].items():
        assert enabled["paths"][path] == item, path
    for name, schema in absent["components"]["schemas"].items():
        assert enabled["components"]["schemas"][name] == schema, name
    added = set(enabled["paths"]) - set(absent["paths"])
    assert {"/api/v1/gateway/authorize", "/access/v1/evaluations", "/v1/data/{path}"} <= added


async def _session(settings: Settings, plugins: Any) -> list[tuple[int, Any]]:
    """The same 1.0 conversation; status and scrubbed body of each response."""
    out: list[tuple[int, Any]] = []
    async with app_client(settings, plugins) as client:
        admin = await admin_headers(client)
        dev = await login_headers(client, role="developer", teams=["payments"], username="dev")
        key = await api_key_headers(client, scopes=["server:read"])
        server = {"name": "pg", "transport": "http", "endpoint": "http://127.0.0.1:1/mcp",
                  "sensitivity_level": "medium", "team": "payments",
                  "tools": [{"name": "run_query", "sensitivity_level": "low"}]}  # fmt: skip
        calls = [
            ("GET", "/health", None, None),
            ("GET", "/api/v1/version", None, None),
            ("GET", "/version", None, None),
            ("GET", "/api/v1/auth/me", None, dev),
            ("POST", "/api/v1/servers", server, admin),
            ("GET", "/api/v1/servers", None, key),
            ("GET", "/api/v1/tools", None, dev),
            ("POST", "/api/v1/policy/evaluate",
             {"action": "tool:invoke", "server": "pg", "tool": "run_query"}, dev),
            ("GET", "/api/v1/servers", None, None),
            ("GET", "/api/v1/nope", None, admin),
        ]  # fmt: skip
        for method, path, body, headers in calls:
            response = await client.request(method, path, json=body, headers=headers)
            payload = response.json() if response.content else None
            out.append((response.status_code, scrub(payload)))
    return out


async def test_responses_are_identical_absent_and_disabled(
    tmp_path: Path, database_url: str
) -> None:
    absent = await _session(gateway_settings(tmp_path / "a", database_url), {})
    # A fresh database for the second run (PostgreSQL databases are per test: reuse it
    # after dropping every table by downgrading to base).
    settings = gateway_settings(tmp_path / "b", database_url)
    await _downgrade(settings, "base")
    disabled = await _session(settings, None)
    assert disabled == absent
    assert absent[0] == (200, {"status": "healthy", "version": absent[0][1]["version"],
                               "gateway_enabled": False, "a2a_enabled": False})  # fmt: skip


async def _downgrade(settings: Settings, target: str) -> None:
    import anyio.to_thread

    await anyio.to_thread.run_sync(migrations.downgrade, settings, target)


def test_gateway_is_disabled_by_default() -> None:
    settings = Settings.from_env({})
    assert settings.features.gateway.enabled is False
    assert settings.features.a2a.enabled is False


def test_a2a_without_gateway_stops_start_up() -> None:
    with pytest.raises(ConfigError, match="A2A_ENABLED=true requires GATEWAY_ENABLED=true"):
        Settings.from_env({"A2A_ENABLED": "true"})


async def test_installed_but_disabled_answers_503_everywhere(
    tmp_path: Path, database_url: str
) -> None:
    settings = gateway_settings(tmp_path, database_url)
    async with app_client(settings) as client:
        admin = await admin_headers(client)
        for headers in (None, admin):
            for method, path in GATEWAY_PATHS:
                response = await client.request(method, path, json={}, headers=headers)
                assert response.status_code == 503, (method, path, response.text)
                assert response.headers["content-type"].startswith("application/problem+json")
                assert response.json()["detail"] == NOT_ENABLED
                assert response.json()["type"] == "urn:sark:problem:feature-disabled"
        state = client.app.state.gateway
        assert state._client is None  # no registry client was created
        assert state._schedule is None
        metrics = (await client.get("/metrics")).text
        assert "sark_gateway_enabled 0.0" in metrics
        assert 'sark_gateway_authorization_requests_total{decision="allow"} 0.0' in metrics
        assert 'sark_gateway_authorization_requests_total{decision="deny"} 0.0' in metrics
        count = await _count(settings, "gateway_audit_events")
        assert count == 0


async def test_a2a_routes_need_their_own_flag(tmp_path: Path, database_url: str) -> None:
    env = {"GATEWAY_ENABLED": "true"}
    async with app_client(gateway_settings(tmp_path, database_url, env)) as client:
        admin = await admin_headers(client)
        response = await client.post("/api/v1/gateway/authorize-a2a", json={}, headers=admin)
        assert response.status_code == 503
        assert response.json()["detail"] == (
            "A2A authorization not enabled. Set A2A_ENABLED=true to enable."
        )
        health = (await client.get("/health")).json()
        assert health["gateway_enabled"] is True
        assert health["a2a_enabled"] is False
        version = (await client.get("/api/v1/version")).json()
        assert version["features"] == {"gateway_integration": True, "a2a_authorization": False}


async def _count(settings: Settings, table: str) -> int:
    engine = create_async_engine(settings.database.url.reveal())
    try:
        async with engine.connect() as connection:
            return int(
                (await connection.execute(sa.text(f"select count(*) from {table}"))).scalar_one()
            )
    finally:
        await engine.dispose()


async def _tables(settings: Settings) -> set[str]:
    engine = create_async_engine(settings.database.url.reveal())
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda c: sa.inspect(c).get_table_names())
    finally:
        await engine.dispose()
    return set(names)


@pytest.mark.migration
async def test_gateway_branch_is_additive_and_reversible(tmp_path: Path, database_url: str) -> None:
    settings = gateway_settings(tmp_path, database_url)
    await _downgrade(settings, "base")
    import anyio.to_thread

    # 1.0 database: core branch only, with data in it.
    await anyio.to_thread.run_sync(migrations.upgrade, settings, "core@head")
    core_tables = await _tables(settings)
    assert "gateway_audit_events" not in core_tables
    async with app_client(settings, {}) as client:
        await login_headers(client, role="developer", username="kept-user")
    users = await _count(settings, "users")
    # Upgrade with the gateway branch: one table more, the 1.0 code path still serves.
    await anyio.to_thread.run_sync(migrations.upgrade, settings, "heads")
    assert await _tables(settings) == core_tables | {"gateway_audit_events"}
    async with app_client(settings, {}) as client:
        me = await login_headers(client, role="developer", username="kept-user-2")
        assert (await client.get("/api/v1/auth/me", headers=me)).status_code == 200
    # Downgrade the gateway branch only: exactly its table goes, data stays.
    await _downgrade(settings, "gateway@base")
    assert await _tables(settings) == core_tables
    assert await _count(settings, "users") == users + 1
    heads = await migrations.current_heads(settings)
    assert heads
    assert "20261123_g01" not in heads


async def test_runtime_rollback_turns_the_routes_off(tmp_path: Path, database_url: str) -> None:
    env = {"GATEWAY_ENABLED": "true"}
    async with app_client(gateway_settings(tmp_path, database_url, env)) as client:
        admin = await admin_headers(client)
        url = "/api/v1/gateway/servers"
        assert (await client.get(url, headers=admin)).status_code == 200
        rollback = await client.post(
            "/admin/rollout/rollback", json={"feature": "gateway"}, headers=admin
        )
        assert rollback.status_code in (200, 201), rollback.text
        off = await client.get(url, headers=admin)
        assert off.status_code == 503
        assert off.json()["detail"] == NOT_ENABLED
        assert "sark_gateway_enabled 0.0" in (await client.get("/metrics")).text
