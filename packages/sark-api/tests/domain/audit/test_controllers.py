"""The audit API over HTTP: access, filters, cursor pagination, streamed export."""

from __future__ import annotations

import csv
import datetime
import io
import json
import time
from typing import Any

from litestar.testing import AsyncTestClient
from tests.support.identity import admin_headers, api_key_headers, login_headers

from sark.api.db.engine import create_engine
from sark.api.domain.audit.services import AuditFilters, iter_events
from sark.api.domain.audit.writer import AuditWriter
from sark.api.runtime import Runtime
from sark.core.settings import Settings

from .conftest import make_event

Client = AsyncTestClient  # type: ignore[type-arg]
BASE = time.time() - 3600


def _runtime(client: Client) -> Runtime:
    runtime: Runtime = client.app.state.runtime
    return runtime


async def _seed(client: Client, count: int = 25) -> None:
    """``count`` test events one second apart, alternating servers, principals, verdicts."""
    writer = _runtime(client).audit
    assert isinstance(writer, AuditWriter)
    for n in range(count):
        writer.record(
            make_event(
                n, kind="test", occurred_at=BASE + n,
                action="tool:invoke" if n % 3 else "server:register",
                principal_id=f"u-{n % 2}",
                resource=f"srv-a/tool{n}" if n % 2 else f"srv-b/tool{n}",
                request_id=f"req-{n}",
            )
        )  # fmt: skip
    await writer.flush()


def _iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat().replace("+00:00", "Z")


async def _numbers(client: Client, headers: dict[str, str], **params: Any) -> list[int]:
    response = await client.get("/api/v1/audit", params={"kind": "test", **params}, headers=headers)
    assert response.status_code == 200, response.text
    return [item["details"]["n"] for item in response.json()["items"]]


async def test_only_admins_security_admins_and_audit_keys_may_read(client: Client) -> None:
    assert (await client.get("/api/v1/audit")).status_code == 401
    allowed = [
        await admin_headers(client),
        await login_headers(client, role="security_admin"),
        await api_key_headers(client, scopes=["audit:read"]),
    ]
    denied = [
        await login_headers(client, role="developer"),
        await login_headers(client, role="team_lead"),
        await api_key_headers(client, scopes=["server:read"], role="admin"),
    ]
    for headers in allowed:
        assert (await client.get("/api/v1/audit", headers=headers)).status_code == 200
        assert (await client.get("/api/v1/audit/export", headers=headers)).status_code == 200
    for headers in denied:
        assert (await client.get("/api/v1/audit", headers=headers)).status_code == 403
        assert (await client.get("/api/v1/audit/export", headers=headers)).status_code == 403


async def test_cursor_pages_cover_everything_newest_first(client: Client) -> None:
    await _seed(client)
    headers = await admin_headers(client)
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"kind": "test", "limit": 10}
        if cursor:
            params["cursor"] = cursor
        body = (await client.get("/api/v1/audit", params=params, headers=headers)).json()
        seen.extend(item["details"]["n"] for item in body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(range(24, -1, -1))


async def test_filters(client: Client) -> None:
    await _seed(client)
    h = await admin_headers(client)
    assert await _numbers(client, h, decision="deny") == [n for n in range(24, -1, -1) if n % 2]
    assert await _numbers(client, h, decision="ALLOW") == [
        n for n in range(24, -1, -1) if not n % 2
    ]
    assert await _numbers(client, h, principal="u-0") == [n for n in range(24, -1, -1) if not n % 2]
    assert await _numbers(client, h, action="server:register") == [24, 21, 18, 15, 12, 9, 6, 3, 0]
    assert await _numbers(client, h, server="srv-a") == [n for n in range(24, -1, -1) if n % 2]
    assert await _numbers(client, h, tool="tool1") == [19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 1]
    assert await _numbers(client, h, server="srv-a", tool="tool1") == [19, 17, 15, 13, 11, 1]
    assert await _numbers(client, h, since=_iso(BASE + 20)) == [24, 23, 22, 21, 20]
    assert await _numbers(client, h, since=_iso(BASE + 5), until=_iso(BASE + 8)) == [7, 6, 5]
    assert await _numbers(client, h, decision_id="d-7") == [7]
    assert await _numbers(client, h, request_id="req-12") == [12]
    assert await _numbers(client, h, server="srv-%") == []  # wildcards are literal


async def test_bad_filters_are_422_with_a_message(client: Client) -> None:
    h = await admin_headers(client)
    cases = {
        "since=yesterday": "since",
        "until=2026-11-23T10:00:00": "UTC offset",
        "decision=maybe": "allow or deny",
        "limit=0": "limit",
        "limit=501": "limit",
        "limit=ten": "limit",
        "cursor=not-a-cursor": "cursor",
        "since=2026-11-23T10:00:00Z&until=2026-11-22T10:00:00Z": "earlier",
    }
    for query, words in cases.items():
        for path in ("/api/v1/audit", "/api/v1/audit/export"):
            if (path.endswith("export") and "limit" in query) or (
                "cursor" in query and "export" in path
            ):
                continue
            response = await client.get(f"{path}?{query}", headers=h)
            assert response.status_code == 422, (path, query, response.text)
            assert words in response.json()["detail"], (query, response.json())
    response = await client.get("/api/v1/audit/export?format=xml", headers=h)
    assert response.status_code == 422
    assert "csv or jsonl" in response.json()["detail"]


async def test_export_csv_streams_every_matching_row(client: Client) -> None:
    await _seed(client)
    h = await admin_headers(client)
    response = await client.get(
        "/api/v1/audit/export?format=csv&kind=test&decision=deny", headers=h
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert disposition.endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [json.loads(row["details"])["n"] for row in rows] == [
        n for n in range(24, -1, -1) if n % 2
    ]
    assert {row["allow"] for row in rows} == {"false"}
    assert rows[0]["occurred_at"].endswith("Z")
    assert rows[0]["resource"] == "srv-a/tool23"


async def test_export_jsonl_streams_every_matching_row(client: Client) -> None:
    await _seed(client)
    h = await admin_headers(client)
    response = await client.get("/api/v1/audit/export?format=jsonl&kind=test", headers=h)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert response.headers["content-disposition"].endswith('.jsonl"')
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["details"]["n"] for line in lines] == list(range(24, -1, -1))
    assert lines[0]["decision_id"] == "d-24"


async def test_export_reads_in_keyset_chunks(client: Client, settings: Settings) -> None:
    await _seed(client)
    engine = create_engine(settings.database)  # the app's engine lives on the app's loop
    try:
        chunks = [chunk async for chunk in iter_events(engine, AuditFilters(kind="test"), chunk=7)]
    finally:
        await engine.dispose()
    assert [len(chunk) for chunk in chunks] == [7, 7, 7, 4]
    assert [item.details["n"] for chunk in chunks for item in chunk] == list(range(24, -1, -1))


async def test_every_decision_is_in_the_trail_with_its_decision_id(client: Client) -> None:
    h = await admin_headers(client)
    response = await client.post(
        "/api/v1/policy/evaluate",
        json={"action": "tool:invoke", "server": "no-such-server", "tool": "x", "parameters": {}},
        headers=h,
    )
    assert response.status_code == 200, response.text
    decision = response.json()
    writer = _runtime(client).audit
    assert isinstance(writer, AuditWriter)
    await writer.flush()
    page = (
        await client.get(
            "/api/v1/audit", params={"decision_id": decision["decision_id"]}, headers=h
        )
    ).json()
    [event] = page["items"]
    assert event["kind"] == "decision"
    assert event["allow"] is decision["allow"]
    assert event["reason"] == decision["reason"]
    assert event["principal_role"] == "admin"
