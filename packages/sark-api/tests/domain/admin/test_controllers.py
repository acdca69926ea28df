"""The admin API of the migration guide: status codes, response shapes and audit."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from tests.support.identity import admin_headers, api_key_headers, login_headers

from sark.api.db.engine import create_engine
from sark.api.domain.audit.models import audit_events
from sark.api.domain.audit.writer import AuditWriter
from sark.api.runtime import Runtime

Client = AsyncTestClient  # type: ignore[type-arg]
ENDPOINTS = [
    ("GET", "/admin/features", None),
    ("POST", "/admin/rollout/update", {"feature": "rust_opa", "percentage": 5}),
    ("POST", "/admin/rollout/rollback", {"feature": "rust_opa"}),
    ("POST", "/admin/cache/cleanup", None),
]


def runtime_of(client: Client) -> Runtime:
    runtime: Runtime = client.app.state.runtime
    return runtime


async def admin_audit(client: Client, action: str, expected: int = 1) -> list[dict[str, Any]]:
    """Admin events with ``action``, read on the test's own loop (the app runs on another).

    The writer stores events asynchronously: wait (bounded) until ``expected`` are there.
    """
    runtime = runtime_of(client)
    assert isinstance(runtime.audit, AuditWriter)
    query = (
        select(audit_events)
        .where(audit_events.c.kind == "admin", audit_events.c.action == action)
        .order_by(audit_events.c.seq)
    )
    engine = create_engine(runtime.settings.database)
    try:
        deadline = time.monotonic() + 10
        while True:
            async with engine.connect() as connection:
                rows = [dict(row) for row in (await connection.execute(query)).mappings()]
            if len(rows) >= expected or time.monotonic() > deadline:
                return rows
            await asyncio.sleep(0.05)
    finally:
        await engine.dispose()


async def call(client: Client, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    if method == "GET":
        return await client.get(path, headers=headers)
    return await client.post(path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
async def test_non_admins_get_403_and_anonymous_401(
    client: Client, method: str, path: str, body: Any
) -> None:
    developer = await login_headers(client, role="developer")
    response = await call(client, method, path, body, developer)
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await call(client, method, path, body, {})).status_code == 401
    scoped = await api_key_headers(client, scopes=["server:read"], role="admin")
    assert (await call(client, method, path, body, scoped)).status_code == 403
    assert runtime_of(client).flags.current().rust_opa.rollout_percentage == 0


async def test_features_have_the_guide_shape(client: Client) -> None:
    admin = await admin_headers(client)
    response = await client.get("/admin/features", headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"rust_opa", "rust_cache", "gateway", "a2a"}
    for feature in ("rust_opa", "rust_cache"):
        assert body[feature]["enabled"] is False
        assert body[feature]["rollout_percentage"] == 0
        assert body[feature]["status"] in {"inactive", "unavailable"}
        assert body[feature]["source"] == "settings"
        assert isinstance(body[feature]["assignments"], dict)
    assert body["rust_cache"]["max_size"] == 10_000
    assert body["gateway"] == {"enabled": False, "status": "inactive", "source": "settings",
                               "version": 0}  # fmt: skip
    events = await admin_audit(client, "features.read")
    assert len(events) == 1
    assert events[0]["principal_role"] == "admin"


async def test_the_guide_curl_without_content_type_updates_and_is_audited(client: Client) -> None:
    admin = await admin_headers(client)
    # curl -d sends application/x-www-form-urlencoded; the guide's commands must still work
    response = await client.post(
        "/admin/rollout/update",
        content=b'{"feature": "rust_opa", "percentage": 25}',
        headers={**admin, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["feature"] == "rust_opa"
    assert body["previous"]["rollout_percentage"] == 0
    assert body["new"]["rollout_percentage"] == 25
    assert body["new"]["enabled"] is True
    features = (await client.get("/admin/features", headers=admin)).json()
    assert features["rust_opa"]["rollout_percentage"] == 25
    assert features["rust_opa"]["source"] == "runtime"
    assert features["rust_opa"]["updated_by"] == "admin"
    assert features["rust_opa"]["version"] == 1
    events = await admin_audit(client, "flag.update")
    assert len(events) == 1
    assert events[0]["allow"] is True
    assert events[0]["resource"] == "feature:rust_opa"
    assert events[0]["details"]["new"]["rollout_percentage"] == 25


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/admin/rollout/update", {"feature": "rust_opa", "percentage": 150},
         "percentage must be an integer from 0 to 100 (got 150)"),
        ("/admin/rollout/update", {"feature": "rust_opa", "percentage": -5},
         "percentage must be an integer from 0 to 100 (got -5)"),
        ("/admin/rollout/update", {"feature": "quantum_opa", "percentage": 5},
         "unknown feature 'quantum_opa'"),
        ("/admin/rollout/rollback", {"feature": "quantum_opa"}, "unknown feature 'quantum_opa'"),
        ("/admin/rollout/update", {"feature": "a2a", "enabled": True}, "a2a needs gateway"),
    ],
    ids=["above-100", "negative", "unknown-update", "unknown-rollback", "a2a"],
)  # fmt: skip
async def test_bad_input_is_422_with_a_clear_message_and_audited(
    client: Client, path: str, body: dict[str, Any], message: str
) -> None:
    admin = await admin_headers(client)
    response = await client.post(path, json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]
    flags = runtime_of(client).flags
    assert flags.row("rust_opa") is None
    assert flags.row("a2a") is None
    action = "flag.update" if path.endswith("update") else "flag.rollback"
    events = await admin_audit(client, action)
    assert [e["allow"] for e in events] == [False]
    assert message in events[0]["reason"]


async def test_rollback_returns_previous_and_new(client: Client) -> None:
    admin = await admin_headers(client)
    await client.post("/admin/rollout/update", json={"feature": "rust_cache", "percentage": 40,
                                                     "shadow": True}, headers=admin)  # fmt: skip
    response = await client.post(
        "/admin/rollout/rollback", content=json.dumps({"feature": "rust_cache"}), headers=admin
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["feature"] == "rust_cache"
    assert (body["previous"]["rollout_percentage"], body["previous"]["shadow"]) == (40, True)
    assert (body["new"]["rollout_percentage"], body["new"]["shadow"]) == (0, False)
    assert runtime_of(client).flags.current().rust_cache.rollout_percentage == 0
    assert len(await admin_audit(client, "flag.rollback")) == 1


async def test_cache_cleanup_reports_a_count_and_is_audited(client: Client) -> None:
    admin = await admin_headers(client)
    response = await client.post("/admin/cache/cleanup", headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body["removed"], int)
    assert body["removed"] >= 0
    assert body["removed"] == sum(body["caches"].values())
    events = await admin_audit(client, "cache.cleanup")
    assert len(events) == 1
    assert events[0]["details"]["removed"] == body["removed"]
