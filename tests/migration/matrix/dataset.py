"""Realistic data seeded through a running SARK's HTTP API, and snapshots to compare.

``seed`` uses only endpoints of the 1.0 HTTP surface (plus the gateway's when the release
ships it), the way a deployment accumulates data: teams, users of every role, API keys,
servers with tools of each sensitivity, an override with its history, decisions (which
become audit events) and a runtime flag change. ``snapshot`` reads everything back;
``assert_preserved`` checks a later snapshot still holds every old object unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from tests.migration.matrix.environment import ADMIN_PASSWORD

USER_PASSWORD = "matrix-user-password"
TEAMS = ("payments", "search")
USERS = (
    ("dana-dev", "developer", ["payments"]),
    ("lee-lead", "team_lead", ["payments"]),
    ("vic-viewer", "viewer", ["search"]),
    ("sam-service", "service", ["search"]),
)
SERVERS: tuple[dict[str, Any], ...] = (
    {
        "name": "payments-db",
        "transport": "http",
        "endpoint": "http://127.0.0.1:9/payments-db",
        "sensitivity_level": "high",
        "team": "payments",
        "tags": ["db", "pci"],
        "description": "PostgreSQL of the payments team",
        "tools": [
            {"name": "list_tables", "sensitivity_level": "low",
             "annotations": {"readOnlyHint": True}},
            {"name": "run_query", "sensitivity_level": "medium",
             "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}}},
            {"name": "drop_table", "description": "Drop a table"},  # derived: destructive
            {"name": "rotate_master_key", "sensitivity_level": "critical",
             "requires_approval": True},
        ],
    },
    {
        "name": "search-index",
        "transport": "stdio",
        "command": "search-mcp",
        "args": ["--index", "main"],
        "sensitivity_level": "low",
        "team": "search",
        "tools": [{"name": "search", "description": "Full-text search"}],
    },
)  # fmt: skip

# Fields a read may legitimately change between two snapshots (use, not data).
VOLATILE = frozenset({"last_used_at", "last_used_ip", "last_login_at"})
FLAG_FIELDS = ("enabled", "source", "version", "rollout_percentage", "updated_at", "updated_by")


@dataclass
class Seeded:
    """Credentials and ids the checks need after the seeding."""

    api_keys: dict[str, str] = field(default_factory=dict)
    """Name -> secret of each key (shown once at creation)."""
    tool_ids: dict[str, str] = field(default_factory=dict)
    """``server/tool`` -> id."""
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)
    """Username -> bearer headers (a session outlives restarts and upgrades; argon2 is slow)."""

    def headers(self, client: httpx.Client, username: str) -> dict[str, str]:
        """Bearer headers of ``username`` (``admin`` or a seeded user), logged in once."""
        if username not in self.tokens:
            password = ADMIN_PASSWORD if username == "admin" else USER_PASSWORD
            self.tokens[username] = login(client, username, password)
        return self.tokens[username]


def check(response: httpx.Response, *expected: int) -> Any:
    """The JSON body of ``response``, which must have one of the ``expected`` statuses."""
    if response.status_code not in expected:
        msg = f"{response.request.method} {response.request.url} -> {response.status_code}: "
        raise AssertionError(msg + response.text[:2000])
    return response.json() if response.content else None


def login(client: httpx.Client, username: str, password: str) -> dict[str, str]:
    """Bearer headers of ``username``."""
    body = check(client.post("/api/v1/auth/login",
                             json={"username": username, "password": password}), 200)  # fmt: skip
    return {"Authorization": f"Bearer {body['access_token']}"}


def admin(client: httpx.Client) -> dict[str, str]:
    """Bearer headers of the bootstrapped admin."""
    return login(client, "admin", ADMIN_PASSWORD)


def evaluate(client: httpx.Client, headers: dict[str, str], tool: str, **extra: Any) -> Any:
    """``POST /api/v1/policy/evaluate`` for a tool of payments-db."""
    body = {"action": "tool:invoke", "server": "payments-db", "tool": tool, **extra}
    return check(client.post("/api/v1/policy/evaluate", json=body, headers=headers), 200)


def seed(client: httpx.Client, *, gateway: bool = False) -> Seeded:
    """Fill an empty SARK through its API; what the later checks need to log in."""
    seeded = Seeded()
    root = admin(client)
    for team in TEAMS:
        check(client.post("/api/v1/teams", json={"name": team}, headers=root), 201)
    for username, role, teams in USERS:
        user = {"username": username, "password": USER_PASSWORD, "role": role, "teams": teams,
                "email": f"{username}@example.com"}  # fmt: skip
        check(client.post("/api/v1/users", json=user, headers=root), 201)
    service = login(client, "sam-service", USER_PASSWORD)
    for name, scopes in (("reader", ["server:read", "policy:evaluate"]),
                         ("auditor", ["audit:read"])):  # fmt: skip
        key = check(client.post("/api/v1/api-keys", headers=service,
                                json={"name": name, "scopes": scopes, "expires_in_days": 365}),
                    201)  # fmt: skip
        seeded.api_keys[name] = key["key"]
    if gateway:
        key = check(client.post("/api/v1/api-keys", headers=service,
                                json={"name": "gateway", "scopes": ["gateway"]}), 201)  # fmt: skip
        seeded.api_keys["gateway"] = key["key"]
    body = {"name": "revoked", "scopes": ["server:read"]}
    revoked = check(client.post("/api/v1/api-keys", headers=service, json=body), 201)
    check(client.post(f"/api/v1/api-keys/{revoked['id']}/revoke", headers=service), 200, 204)
    seeded.api_keys["revoked"] = revoked["key"]
    for server in SERVERS:
        created = check(client.post("/api/v1/servers", json=server, headers=root), 201)
        for tool in created["tools"]:
            seeded.tool_ids[f"{created['name']}/{tool['name']}"] = tool["id"]
    override = {"sensitivity_level": "high", "reason": "returns customer rows"}
    check(client.patch(f"/api/v1/tools/{seeded.tool_ids['payments-db/run_query']}/sensitivity",
                       json=override, headers=root), 200)  # fmt: skip
    lead = login(client, "lee-lead", USER_PASSWORD)
    developer = login(client, "dana-dev", USER_PASSWORD)
    for headers, tool in ((developer, "list_tables"), (developer, "drop_table"),
                          (lead, "run_query"), (root, "rotate_master_key")):  # fmt: skip
        evaluate(client, headers, tool, parameters={"query": "select 1", "password": "x"})
    check(client.post("/admin/rollout/update", headers=root,
                      json={"feature": "rust_cache", "percentage": 25}), 200)  # fmt: skip
    if gateway:
        body = {"action": "gateway:tool:invoke", "server_name": "search-index",
                "tool_name": "search", "parameters": {"q": "refund"}}  # fmt: skip
        check(client.post("/api/v1/gateway/authorize", json=body, headers=developer), 200)
    return seeded


def _pages(client: httpx.Client, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, str] = {"limit": "100"}
    while True:
        body = check(client.get(path, params=params, headers=headers), 200)
        if isinstance(body, list):
            return body
        items += body["items"]
        if not body.get("next_cursor"):
            return items
        params = {"limit": "100", "cursor": body["next_cursor"]}


def _by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(item["id"]): item for item in items}


def snapshot(client: httpx.Client, seeded: Seeded) -> dict[str, Any]:
    """Everything the API shows of the seeded data."""
    root = seeded.headers(client, "admin")
    service = seeded.headers(client, "sam-service")
    tools = _by_id(_pages(client, "/api/v1/tools", root))
    features = check(client.get("/admin/features", headers=root), 200)
    return {
        "teams": _by_id(_pages(client, "/api/v1/teams", root)),
        "users": _by_id(_pages(client, "/api/v1/users", root)),
        "api_keys": _by_id(_pages(client, "/api/v1/api-keys", service)),
        "servers": _by_id(_pages(client, "/api/v1/servers", root)),
        "tools": tools,
        "history": {
            tool_id: check(
                client.get(f"/api/v1/tools/{tool_id}/sensitivity-history", headers=root), 200
            )
            for tool_id in seeded.tool_ids.values()
        },
        "audit": _by_id(_pages(client, "/api/v1/audit", root)),
        "features": {
            "rust_cache": {k: v for k, v in features["rust_cache"].items() if k in FLAG_FIELDS}
        },
    }


def assert_preserved(old: Any, new: Any, path: str = "$") -> None:
    """Every value of ``old`` is in ``new`` unchanged (new may add keys and objects)."""
    if isinstance(old, dict):
        assert isinstance(new, dict), f"{path}: was an object, now {type(new).__name__}"
        for key, value in old.items():
            if key in VOLATILE:
                continue
            assert key in new, f"{path}.{key}: missing"
            assert_preserved(value, new[key], f"{path}.{key}")
    elif isinstance(old, list):
        assert isinstance(new, list), f"{path}: was a list, now {type(new).__name__}"
        assert len(new) == len(old), f"{path}: {len(old)} items, now {len(new)}"
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            assert_preserved(a, b, f"{path}[{index}]")
    else:
        assert old == new, f"{path}: {old!r} became {new!r}"


def assert_credentials_work(client: httpx.Client, seeded: Seeded) -> None:
    """Old passwords and API keys still authenticate; the revoked key still does not."""
    for username, role, _ in USERS:
        me = check(client.get("/api/v1/auth/me",
                              headers=login(client, username, USER_PASSWORD)), 200)  # fmt: skip
        assert (me["name"], me["role"]) == (username, role), me
    for name, key in seeded.api_keys.items():
        answer = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == (401 if name == "revoked" else 200), (name, answer.text)
        if name != "revoked":
            assert answer.json()["auth_method"] == "api_key", answer.text
    for username, headers in seeded.tokens.items():  # sessions opened by an older release
        me = check(client.get("/api/v1/auth/me", headers=headers), 200)
        assert me["name"] == username, me
    reader = {"Authorization": f"Bearer {seeded.api_keys['reader']}"}
    names = {s["name"] for s in _pages(client, "/api/v1/servers", reader)}
    assert {"payments-db", "search-index"} <= names
