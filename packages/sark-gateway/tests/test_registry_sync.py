"""The registry client and catalog sync against a real loopback registry server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.compatibility.gateway_support import app_client, gateway_settings
from tests.support.identity import admin_headers, login_headers

from sark.api.observability.metrics import Telemetry
from sark.core.errors import DependencyUnavailableError
from sark.core.options import Secret
from sark.gateway.client import CircuitBreaker, CircuitOpenError, RegistryClient
from sark.gateway.config import GatewayConfig
from sark.gateway.metrics import GatewayMetrics


class Registry:
    """A fake MCP Gateway Registry: ``/api/servers``, ``/api/tools/<path>``; records calls."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []
        self.fail_next = 0
        self.status = 503
        self.servers: list[dict[str, Any]] = [
            {"server_name": "time-server", "path": "/time", "description": "Clock",
             "proxy_pass_url": "http://127.0.0.1:9/time", "tags": ["util"], "is_enabled": True},
            {"server_name": "disabled", "path": "/off", "is_enabled": False},
        ]  # fmt: skip
        self.tools: dict[str, list[dict[str, Any]]] = {
            "time": [{"name": "get_time", "description": "Current time",
                      "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": True}}],
        }  # fmt: skip


@pytest.fixture(name="registry")
def fixture_registry() -> Iterator[tuple[Registry, str]]:
    state = Registry()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            state.requests.append((self.path, self.headers.get("Authorization")))
            if state.fail_next > 0:
                state.fail_next -= 1
                self._send(state.status, {"error": "down"})
            elif self.path == "/api/servers":
                self._send(200, {"servers": state.servers})
            elif self.path.startswith("/api/tools/"):
                self._send(
                    200, {"tools": state.tools.get(self.path.removeprefix("/api/tools/"), [])}
                )
            else:
                self._send(404, {"error": "not found"})

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def config(url: str, **overrides: Any) -> GatewayConfig:
    base: dict[str, Any] = {
        "enabled": True, "registry_url": url, "api_key": Secret("k-123"), "timeout_seconds": 2.0,
        "max_retries": 2, "retry_backoff_seconds": 0.001, "circuit_failure_threshold": 3,
        "circuit_reset_seconds": 0.2,
    }  # fmt: skip
    return GatewayConfig(**{**base, **overrides})


async def test_client_retries_then_recovers(registry: tuple[Registry, str]) -> None:
    state, url = registry
    client = RegistryClient(config(url), GatewayMetrics(Telemetry()))
    try:
        state.fail_next = 2
        servers = await client.servers()
        assert [s["server_name"] for s in servers] == ["time-server", "disabled"]
        assert [p for p, _ in state.requests] == ["/api/servers"] * 3
        assert all(auth == "Bearer k-123" for _, auth in state.requests)
        assert client.breaker.state == "closed"
    finally:
        await client.aclose()


async def test_circuit_opens_and_closes_after_a_probe(registry: tuple[Registry, str]) -> None:
    state, url = registry
    client = RegistryClient(config(url), GatewayMetrics(Telemetry()))
    try:
        state.fail_next = 100
        with pytest.raises(DependencyUnavailableError, match="HTTP 503"):
            await client.servers()
        assert client.breaker.state == "open"
        sent = len(state.requests)
        with pytest.raises(CircuitOpenError):
            await client.servers()
        assert len(state.requests) == sent  # refused without a request
        state.fail_next = 0
        import asyncio

        while client.breaker.state == "open":  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        assert client.breaker.state == "half-open"
        assert len(await client.servers()) == 2
        assert client.breaker.state == "closed"
    finally:
        await client.aclose()


async def test_client_errors_are_not_retried(registry: tuple[Registry, str]) -> None:
    state, url = registry
    state.fail_next, state.status = 1, 401
    client = RegistryClient(config(url), GatewayMetrics(Telemetry()))
    try:
        with pytest.raises(DependencyUnavailableError, match="HTTP 401"):
            await client.servers()
        assert len(state.requests) == 1
    finally:
        await client.aclose()


def test_breaker_half_open_allows_one_probe() -> None:
    now = [0.0]
    breaker = CircuitBreaker(2, 10.0, clock=lambda: now[0])
    breaker.failure()
    assert breaker.state == "closed"
    breaker.failure()
    assert breaker.state == "open"
    now[0] = 10.0
    breaker.before()  # the probe
    with pytest.raises(CircuitOpenError):
        breaker.before()  # a second call while the probe is out
    breaker.failure()
    assert breaker.state == "open"  # failed probe re-opens at once
    now[0] = 20.0
    breaker.before()
    breaker.success()
    assert breaker.state == "closed"


async def test_sync_into_the_catalog_over_http(
    registry: tuple[Registry, str], tmp_path: Path, database_url: str, gateway_env: dict[str, str]
) -> None:
    state, url = registry
    env = {**gateway_env, "GATEWAY_URL": url, "GATEWAY_SYNC_INTERVAL_SECONDS": "0",
           "GATEWAY_RETRY_BACKOFF_MS": "1"}  # fmt: skip
    async with app_client(gateway_settings(tmp_path, database_url, env)) as client:
        admin = await admin_headers(client)
        result = (await client.post("/api/v1/gateway/sync", headers=admin)).json()
        assert result["created"] == ["time-server"]
        assert result["servers_seen"] == 1
        servers = (await client.get("/api/v1/servers", headers=admin)).json()["items"]
        synced = next(s for s in servers if s["name"] == "time-server")
        assert synced["origin"] == "gateway"
        assert synced["endpoint"] == "http://127.0.0.1:9/time"
        dev = await login_headers(client, role="developer")
        body = {
            "action": "gateway:tool:invoke",
            "server_name": "time-server",
            "tool_name": "get_time",
        }
        answer = (await client.post("/api/v1/gateway/authorize", json=body, headers=dev)).json()
        assert answer["allow"] is True, answer
        # Tool list changes at the registry; the server disappears later.
        state.tools["time"].append({"name": "set_time", "description": "Set the clock"})
        again = (await client.post("/api/v1/gateway/sync", headers=admin)).json()
        assert again["updated"] == ["time-server"]
        state.servers = []
        gone = (await client.post("/api/v1/gateway/sync", headers=admin)).json()
        assert gone["removed"] == ["time-server"]
        answer = (await client.post("/api/v1/gateway/authorize", json=body, headers=dev)).json()
        assert (answer["allow"], answer["reason"]) == (False, "server_inactive")
        # The registry fails: the sync answers 503 and the catalog keeps serving.
        state.fail_next = 100
        failed = await client.post("/api/v1/gateway/sync", headers=admin)
        assert failed.status_code == 503
        assert (await client.post("/api/v1/gateway/sync", headers=dev)).status_code == 403


async def test_manual_servers_are_never_overwritten(
    registry: tuple[Registry, str], tmp_path: Path, database_url: str, gateway_env: dict[str, str]
) -> None:
    _, url = registry
    env = {**gateway_env, "GATEWAY_URL": url, "GATEWAY_SYNC_INTERVAL_SECONDS": "0"}
    async with app_client(gateway_settings(tmp_path, database_url, env)) as client:
        admin = await admin_headers(client)
        manual = {"name": "time-server", "transport": "http", "endpoint": "http://127.0.0.1:9/x",
                  "sensitivity_level": "low"}  # fmt: skip
        assert (await client.post("/api/v1/servers", json=manual, headers=admin)).status_code == 201
        result = (await client.post("/api/v1/gateway/sync", headers=admin)).json()
        assert result["skipped"] == ["time-server"]
        assert result["created"] == []


async def test_scheduled_sync_runs_when_enabled(
    registry: tuple[Registry, str], tmp_path: Path, database_url: str, gateway_env: dict[str, str]
) -> None:
    state, url = registry
    env = {**gateway_env, "GATEWAY_URL": url, "GATEWAY_SYNC_INTERVAL_SECONDS": "3600"}
    async with app_client(gateway_settings(tmp_path, database_url, env)) as client:
        import asyncio

        for _ in range(200):
            if any(p == "/api/tools/time" for p, _ in state.requests):
                break
            await asyncio.sleep(0.05)
        assert ("/api/servers", "Bearer " + env["GATEWAY_API_KEY"]) in state.requests
        admin = await admin_headers(client)
        names = [
            s["name"] for s in (await client.get("/api/v1/servers", headers=admin)).json()["items"]
        ]
        for _ in range(100):
            if "time-server" in names:
                break
            await asyncio.sleep(0.05)
            names = [
                s["name"]
                for s in (await client.get("/api/v1/servers", headers=admin)).json()["items"]
            ]
        assert "time-server" in names
