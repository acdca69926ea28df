from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from tests.support.app import make_settings, migrate
from tests.support.services import free_port

from sark.api import create_app
from sark.core import VERSION, Settings


async def test_health_reports_version_and_gateway_disabled(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "healthy",
        "version": VERSION.version,
        "gateway_enabled": False,
        "a2a_enabled": False,
    }


async def test_liveness(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/health/live")
    assert response.json() == {"status": "alive"}


@pytest.mark.parametrize("path", ["/api/v1/version", "/version"])
async def test_version_has_the_documented_shape(client: AsyncTestClient, path: str) -> None:  # type: ignore[type-arg]
    body = (await client.get(path)).json()
    assert body == {
        "version": VERSION.version,
        "major": VERSION.major,
        "minor": VERSION.minor,
        "patch": VERSION.patch,
        "features": {"gateway_integration": False, "a2a_authorization": False},
        "compatibility": {"min_version": "1.0.0", "max_version": f"{VERSION.major}.x.x"},
    }


async def test_readiness_checks_the_database(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database"}
    assert body["checks"]["database"]["status"] == "up"


@pytest.fixture(name="sqlite_settings")
def fixture_sqlite_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, {"SARK_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})


async def _client(settings: Settings) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    await migrate(settings)
    async with AsyncTestClient(app=create_app(settings, plugins={})) as client:
        yield client


async def test_readiness_includes_redis_and_opa_when_configured(
    tmp_path: Path, redis_url: str, opa_url: str
) -> None:
    settings = make_settings(
        tmp_path,
        {
            "SARK_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
            "SARK_REDIS_URL": redis_url,
            "SARK_OPA_URL": opa_url,
        },
    )
    async for client in _client(settings):
        body = (await client.get("/health/ready")).json()
        assert body["status"] == "ready"
        assert {name: check["status"] for name, check in body["checks"].items()} == {
            "database": "up",
            "redis": "up",
            "opa": "up",
        }


async def test_readiness_is_503_and_names_the_dependency_that_is_down(tmp_path: Path) -> None:
    dead = free_port()
    settings = make_settings(
        tmp_path,
        {
            "SARK_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
            "SARK_REDIS_URL": f"redis://127.0.0.1:{dead}/0",
            "SARK_OPA_URL": f"http://127.0.0.1:{dead}",
        },
    )
    async for client in _client(settings):
        response = await client.get("/health/ready")
        assert response.status_code == 503
        checks = response.json()["checks"]
        assert checks["database"]["status"] == "up"
        assert checks["redis"]["status"] == "down"
        assert checks["opa"]["status"] == "down"
        assert checks["redis"]["error"]


async def test_metrics_expose_http_requests_by_route_template(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    await client.get("/health")
    await client.get("/health")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'sark_http_requests_total{method="GET",route="/health",status="200"} 2.0' in text
    assert "sark_http_request_duration_seconds_bucket" in text


async def test_openapi_document_and_interactive_ui(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    ui = await client.get("/schema")
    assert ui.status_code == 200
    assert "swagger" in ui.text.lower()
    document = (await client.get("/schema/openapi.json")).json()
    assert document["info"]["title"] == "SARK"
    assert {"/health", "/health/ready", "/api/v1/version", "/metrics"} <= set(document["paths"])


async def test_request_id_is_echoed_or_generated(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    echoed = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = await client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert generated.headers["x-request-id"] != "bad id\twith spaces"
    assert len(generated.headers["x-request-id"]) == 32
