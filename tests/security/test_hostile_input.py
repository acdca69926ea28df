"""Hostile input: every malformed, oversized or crafted request gets a 4xx and changes nothing.

The app runs with the gateway plugin (AuthZEN, OPA Data API) on SQLite and PostgreSQL.
Each case sends its request as admin (or as the gateway) and checks that the answer is a
problem-details 4xx and that the database is exactly as before: row counts of the catalog,
identity and audit tables (the audit writer flushed) and the policy bundle revision.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import anyio.to_thread
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from tests.compatibility.gateway_support import ENABLED, GATEWAY_KEY, app_client, gateway_settings
from tests.support.identity import admin_headers

from sark.api.domain.audit.writer import AuditWriter
from sark.api.runtime import Runtime

UNLIMITED = {"SARK_RATE_LIMIT_USER_PER_MINUTE": "0", "SARK_RATE_LIMIT_API_KEY_PER_MINUTE": "0"}
TABLES = ("servers", "tools", "users", "teams", "team_members", "api_keys", "audit_events",
          "gateway_audit_events", "feature_flags")  # fmt: skip
JSON = {"content-type": "application/json"}
GATEWAY = {"X-API-Key": GATEWAY_KEY}
SERVER = {"name": "pg", "transport": "http", "endpoint": "http://127.0.0.1:9/mcp",
          "sensitivity_level": "medium", "tools": [{"name": "run_query"}]}  # fmt: skip

# (method, path, who): every endpoint that takes a JSON body, with a minimal valid body
BODY_ENDPOINTS = [
    ("POST", "/api/v1/policy/evaluate", "admin"),
    ("POST", "/api/v1/servers", "admin"),
    ("PATCH", "/api/v1/servers/pg", "admin"),
    ("POST", "/api/v1/users", "admin"),
    ("POST", "/api/v1/teams", "admin"),
    ("POST", "/api/v1/api-keys", "admin"),
    ("POST", "/api/v1/auth/login", "nobody"),
    ("POST", "/api/v1/gateway/authorize", "admin"),
    ("POST", "/api/v1/gateway/authorize-a2a", "admin"),
    ("POST", "/api/v1/gateway/audit", "gateway"),
    ("POST", "/access/v1/evaluation", "gateway"),
    ("POST", "/access/v1/evaluations", "gateway"),
    ("POST", "/v1/data/mcp/gateway/decision", "gateway"),
    ("POST", "/admin/rollout/update", "admin"),
]


@pytest.fixture(name="hostile")
async def fixture_hostile(tmp_path: Path, database_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    """A client of an app with the gateway on and one server registered."""
    settings = gateway_settings(tmp_path, database_url, {**ENABLED, **UNLIMITED})
    async with app_client(settings) as client:
        admin = await admin_headers(client)
        created = await client.post("/api/v1/servers", json=SERVER, headers=admin)
        assert created.status_code == 201, created.text
        yield client


async def snapshot(client: AsyncTestClient[Any]) -> dict[str, Any]:
    """Row counts of every table a request could change, and the policy revision."""
    runtime: Runtime = client.app.state.runtime

    async def count() -> dict[str, Any]:  # in the app's loop: its pools belong to it
        assert isinstance(runtime.audit, AuditWriter)
        await runtime.audit.flush()
        counts: dict[str, Any] = {}
        async with runtime.engine.connect() as connection:
            for table in TABLES:
                query = text(f"select count(*) from {table}")
                counts[table] = (await connection.execute(query)).scalar()
        counts["revision"] = runtime.decisions.revision
        return counts

    found: dict[str, Any] = await anyio.to_thread.run_sync(client.blocking_portal.call, count)
    return found


async def headers_for(client: AsyncTestClient[Any], who: str) -> dict[str, str]:
    if who == "admin":
        return await admin_headers(client)
    return GATEWAY if who == "gateway" else {}


def assert_problem(response: Any, *statuses: int) -> dict[str, Any]:
    """``response`` is a problem-details document with one of ``statuses``."""
    where = f"{response.request.method} {response.request.url}"
    assert response.status_code in statuses, (where, response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    assert body["type"].startswith("urn:sark:problem:")
    assert body["detail"]
    return body


async def send_unchanged(
    client: AsyncTestClient[Any], method: str, path: str, who: str, *statuses: int, **kwargs: Any
) -> dict[str, Any]:
    """Send a request, check it is refused with ``statuses`` and that nothing changed."""
    headers = {**(await headers_for(client, who)), **kwargs.pop("headers", {})}
    before = await snapshot(client)
    response = await client.request(method, path, headers=headers, **kwargs)
    body = assert_problem(response, *statuses)
    assert await snapshot(client) == before, f"{method} {path} changed the database"
    return body


# ------------------------------------------------------------------- size, depth, nodes


async def test_oversized_body_is_413(hostile: AsyncTestClient[Any]) -> None:
    body = b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'
    for method, path, who in BODY_ENDPOINTS:
        problem = await send_unchanged(hostile, method, path, who, 413, content=body, headers=JSON)
        assert problem["type"] == "urn:sark:problem:payload-too-large"


async def test_deep_nesting_is_400(hostile: AsyncTestClient[Any]) -> None:
    for method, path, who in BODY_ENDPOINTS:
        for depth in (40, 5_000):  # past SARK_MAX_JSON_DEPTH, and past msgspec's recursion limit
            body = b'{"parameters": ' + b"[" * depth + b"]" * depth + b"}"
            problem = await send_unchanged(
                hostile, method, path, who, 400, content=body, headers=JSON
            )
            assert "SARK_MAX_JSON_DEPTH" in problem["detail"]


async def test_huge_parameter_map_is_400(hostile: AsyncTestClient[Any]) -> None:
    # 120,000 keys and values in ~560 KiB: under SARK_MAX_BODY_BYTES, over SARK_MAX_JSON_NODES
    parameters = {f"{i:x}": 0 for i in range(60_000)}
    body = {"action": "tool:invoke", "parameters": parameters}
    for method, path, who in BODY_ENDPOINTS:
        problem = await send_unchanged(hostile, method, path, who, 400, json=body)
        assert "SARK_MAX_JSON_NODES" in problem["detail"]


async def test_limits_are_configurable(tmp_path: Path, database_url: str) -> None:
    env = {**ENABLED, "SARK_MAX_BODY_BYTES": "2048", "SARK_MAX_JSON_DEPTH": "4",
           "SARK_MAX_JSON_NODES": "50"}  # fmt: skip
    async with app_client(gateway_settings(tmp_path, database_url, env)) as client:
        admin = await admin_headers(client)
        evaluate = "/api/v1/policy/evaluate"
        ok = {"action": "tool:invoke", "parameters": {"a": {"b": [1]}}}
        assert (await client.post(evaluate, json=ok, headers=admin)).status_code == 200
        deep = {"action": "tool:invoke", "parameters": {"a": {"b": {"c": [1]}}}}
        assert_problem(await client.post(evaluate, json=deep, headers=admin), 400)
        wide = {"action": "tool:invoke", "parameters": {f"k{i}": i for i in range(30)}}
        assert_problem(await client.post(evaluate, json=wide, headers=admin), 400)
        big = {"action": "tool:invoke", "parameters": {"p": "x" * 3000}}
        assert_problem(await client.post(evaluate, json=big, headers=admin), 413)


# ------------------------------------------------------------------------------ unicode

RAW_BODIES = {
    "lone high surrogate": b'{"action": "tool:invoke", "server": "\\ud800"}',
    "lone low surrogate": b'{"action": "tool:invoke", "server": "a\\udc00b", "name": "x"}',
    "overlong utf-8 slash": b'{"action": "tool:invoke", "server": "\xc0\xaf"}',
    "latin-1 bytes": b'{"action": "tool:invoke", "server": "caf\xe9"}',
    "invalid utf-8": b'{"action": "tool:invoke", "name": "\xff\xfe"}',
    "raw NUL byte": b'{"action": "tool:invoke", "name": "a\x00b"}',
    "escaped NUL": b'{"action": "tool:invoke", "server": "pg\\u0000", "name": "a\\u0000"}',
    "NUL in a key": b'{"action": "tool:invoke", "parameters": {"a\\u0000": 1}}',
}


async def test_bad_text_is_400(hostile: AsyncTestClient[Any]) -> None:
    for method, path, who in BODY_ENDPOINTS:
        for raw in RAW_BODIES.values():
            await send_unchanged(hostile, method, path, who, 400, 422, content=raw, headers=JSON)


NAMES = {
    "right-to-left override": "pg\u202egnp.exe",
    "zero-width space": "p\u200bg",
    "zero-width joiner": "pg\u200d",
    "byte order mark": "\ufeffpg",
    "combining marks": "pg\u0301\u0301\u0301",
    "C1 control": "pg\u0085",
    "newline": "pg\ninjected",
}


async def test_invisible_characters_in_names_are_refused(hostile: AsyncTestClient[Any]) -> None:
    for name in NAMES.values():
        server = {**SERVER, "name": name}
        await send_unchanged(hostile, "POST", "/api/v1/servers", "admin", 400, 422, json=server)
        user = {"username": name, "password": "password-0123456789", "role": "viewer"}
        await send_unchanged(hostile, "POST", "/api/v1/users", "admin", 400, 422, json=user)
        team = {"name": name}
        await send_unchanged(hostile, "POST", "/api/v1/teams", "admin", 400, 422, json=team)


async def test_lookalike_name_is_not_the_registered_server(hostile: AsyncTestClient[Any]) -> None:
    """A decision naming ``p<ZWSP>g`` is about an unknown server, never about ``pg``."""
    admin = await admin_headers(hostile)
    body = {"action": "tool:invoke", "server": "p\u200bg", "tool": "run_query"}
    response = await hostile.post("/api/v1/policy/evaluate", json=body, headers=admin)
    assert response.status_code == 200
    assert response.json()["allow"] is False
    assert response.json()["reason"] == "unknown_server"


async def test_nul_in_path_or_query_is_400(hostile: AsyncTestClient[Any]) -> None:
    """Regression: a NUL reached PostgreSQL (a 500: text cannot hold it)."""
    paths = ["/api/v1/servers/pg%00", "/api/v1/servers?name=a%00b", "/api/v1/users?q=%00",
             "/api/v1/audit?principal_id=a%00", "/api/v1/tools?server=pg%00",
             "/api/v1/servers/pg%00/discover"]  # fmt: skip
    for path in paths:
        method = "POST" if path.endswith("discover") else "GET"
        problem = await send_unchanged(hostile, method, path, "admin", 400)
        assert "NUL" in problem["detail"]


async def test_page_size_out_of_range_is_400(hostile: AsyncTestClient[Any]) -> None:
    """Regression: the bound of ``limit`` was lost (-1: a PostgreSQL 500; unbounded on SQLite)."""
    for path in ("/api/v1/users", "/api/v1/teams", "/api/v1/api-keys"):
        for limit in ("-1", "0", "501", "99999999999999999999"):
            await send_unchanged(hostile, "GET", f"{path}?limit={limit}", "admin", 400)


# --------------------------------------------------------------------- header injection


async def _raw_request(
    client: AsyncTestClient[Any],
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes = b"",
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Call the ASGI app in its own loop, as a server would: ``path`` is sent as is (no
    dot-segment normalisation), decoded like an ASGI server does, and header bytes may be
    ones no HTTP client library would send."""
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": unquote(path), "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }  # fmt: skip

    async def call() -> None:
        await client.app(scope, receive, send)  # type: ignore[arg-type]

    await anyio.to_thread.run_sync(client.blocking_portal.call, call)
    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], list(start.get("headers", [])), content


INJECTED = [
    b"abc\r\nSet-Cookie: sark=owned",
    b"abc\nX-Injected: 1",
    b"abc\rX: 1",
    b"\r\n\r\n<html>",
]


REQUEST_ID_CASES = [
    ("GET", "/health", "nobody", b""),
    ("GET", "/api/v1/auth/me", "admin", b""),
    ("GET", "/api/v1/nowhere", "admin", b""),
    ("POST", "/access/v1/evaluation", "gateway",
     b'{"subject": {"type": "user", "id": "admin"}, "action": {"name": "tools/call"},'
     b' "resource": {"type": "tool", "id": "run_query"}}'),
]  # fmt: skip


async def test_request_id_with_cr_lf_is_not_echoed(hostile: AsyncTestClient[Any]) -> None:
    for method, path, who, body in REQUEST_ID_CASES:
        auth = [
            (k.lower().encode(), v.encode()) for k, v in (await headers_for(hostile, who)).items()
        ]
        for value in INJECTED:
            headers = [*auth, (b"x-request-id", value), (b"content-type", b"application/json")]
            status, response_headers, _ = await _raw_request(hostile, method, path, headers, body)
            assert status < 500, (path, value)
            for name, header in response_headers:
                assert b"\r" not in header, (path, name, header)
                assert b"\n" not in header, (path, name, header)
                assert name not in (b"set-cookie", b"x-injected", b"x"), (path, name)
            request_ids = [v for n, v in response_headers if n == b"x-request-id"]
            assert value not in request_ids, (path, request_ids)
            if status != 404:  # an unrouted path never reaches the middleware that sets one
                assert len(request_ids) == 1, (path, request_ids)


async def test_unsafe_request_ids_are_replaced(hostile: AsyncTestClient[Any]) -> None:
    for value in (b"a" * 129, b"id with spaces", b"<script>", b"\xff\xfe"):
        status, headers, _ = await _raw_request(
            hostile, "GET", "/health", [(b"x-request-id", value)]
        )
        assert status == 200
        assert dict(headers)[b"x-request-id"] != value


# ---------------------------------------------------------------------- path traversal

TRAVERSALS = [
    "/v1/data/%2e%2e/mcp/gateway/decision",
    "/v1/data/mcp/%2e%2e/%2e%2e/etc/passwd",
    "/v1/data/mcp%2Fgateway%2Fdecision",
    "/v1/data/mcp%2fgateway/decision",
    "/v1/data/mcp/gateway%2F..%2F..%2Fsark_meta",
    "/v1/data/%2Fetc%2Fpasswd",
    "/v1/data//etc/passwd",
    "/v1/data/mcp/gateway/../../sark_meta",
    "/v1/data/mcp/gateway/./decision",
    "/v1/data/mcp/gateway%00/decision",
    "/v1/data/mcp/gateway/decision%20",
    "/v1/data/MCP/Gateway/decision",
    "/v1/data/mcp\\gateway\\decision",
    "/v1/data/sark_meta",
    "/v1/data/system/main",
    "/v1/data/data/mcp/gateway",
]
OPA_INPUT = {"input": {"action": "gateway:tool:invoke", "subject": {"id": "admin"},
                       "resource": {"server": "pg", "tool": "run_query"}}}  # fmt: skip


async def test_opa_data_path_traversal_is_refused(hostile: AsyncTestClient[Any]) -> None:
    """Regression for ``%2F``: it was decoded before routing, so ``mcp%2Fgateway`` decided.

    Sent raw: an HTTP client would resolve ``..`` and ``.`` before sending.
    """
    headers = [(b"x-api-key", GATEWAY_KEY.encode()), (b"content-type", b"application/json")]
    body = json.dumps(OPA_INPUT).encode()
    for path in TRAVERSALS:
        before = await snapshot(hostile)
        status, response_headers, content = await _raw_request(hostile, "POST", path, headers, body)
        assert status in (400, 404), (path, status, content[:300])
        assert dict(response_headers)[b"content-type"].startswith(b"application/problem+json")
        assert json.loads(content)["status"] == status
        assert await snapshot(hostile) == before, path


async def test_opa_data_valid_path_still_decides(hostile: AsyncTestClient[Any]) -> None:
    """The control case of the traversal table: the plain path answers a decision."""
    response = await hostile.post("/v1/data/mcp/gateway/decision", json=OPA_INPUT, headers=GATEWAY)
    assert response.status_code == 200, response.text
    assert set(response.json()["result"]) >= {"allow", "reason"}


API_TRAVERSALS = [
    "/api/v1/servers/..%2F..%2Fusers", "/api/v1/servers/%2e%2e", "/api/v1/servers/..",
    "/api/v1/servers/pg%2F..%2F..%2Fpolicy%2Freload", "/api/v1/tools/..%2Fservers",
    "/api/v1/users/..%2Fteams", "/api/v1/policy/bundle%2F..%2Freload",
    "/api/v1/policy/..%2Fpolicy/reload", "/api/v1/policy/%2e%2e/%2e%2e/admin/features",
]  # fmt: skip


async def test_encoded_traversal_in_api_paths_changes_nothing(
    hostile: AsyncTestClient[Any],
) -> None:
    for path in API_TRAVERSALS:
        for method in ("GET", "PATCH", "DELETE", "POST"):
            kwargs: dict[str, Any] = {"json": {}} if method in ("PATCH", "POST") else {}
            await send_unchanged(hostile, method, path, "admin", 400, 404, 405, 422, **kwargs)


async def test_policy_reload_ignores_request_paths(hostile: AsyncTestClient[Any]) -> None:
    """The reload endpoint takes no path from the caller: a body naming one is refused."""
    admin = await admin_headers(hostile)
    before = await snapshot(hostile)
    for body in ({"path": "/etc"}, {"path": "../../../../etc"}):
        response = await hostile.post(
            "/api/v1/policy/reload", content=json.dumps(body).encode(), headers={**admin, **JSON}
        )
        assert response.status_code == 200, response.text
        assert response.json()["path"] != body["path"]
    after = await snapshot(hostile)
    assert after["revision"] == before["revision"]
