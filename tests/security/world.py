"""The callers and resources the bypass suite works with, built through the public API."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from tests.compatibility.gateway_support import GATEWAY_KEY
from tests.support.app import TEST_ADMIN_PASSWORD
from tests.support.identity import (
    USER_PASSWORD,
    _check,
    admin_headers,
    api_key_headers,
    bearer,
    create_user,
)

Headers = dict[str, str]
TEAMS = {"developer": ["alpha"], "team_lead": ["alpha"]}
SERVER = "alpha-srv"
TOOL = "read_rows"


@dataclass
class World:
    """One app's callers and the resources every row of the matrix aims at."""

    client: Any
    admin: Headers
    callers: dict[str, Headers] = field(default_factory=dict)
    usernames: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    _n: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def n(self) -> int:
        """A fresh number for unique names."""
        return next(self._n)

    async def call(self, method: str, path: str, headers: Headers, **kwargs: Any) -> Any:
        """``method path`` as ``headers``; the JSON body, failing on an unexpected status."""
        response = await self.client.request(method, path, headers=headers, **kwargs)
        return _check(response, 200, 201, 204)

    async def fresh(self, who: str) -> Headers:
        """A new session of the user ``who`` (so ending it spares the shared one)."""
        if who == "admin":
            return await bearer(self.client, "admin", TEST_ADMIN_PASSWORD)
        return await bearer(self.client, self.usernames[who], USER_PASSWORD)

    async def clone(self, who: str) -> Headers:
        """A session of a new user with the role and teams of ``who``."""
        user = await self.make_user(who, TEAMS.get(who, []))
        return await bearer(self.client, user["username"], USER_PASSWORD)

    async def make_user(self, role: str, teams: list[str] | None = None) -> dict[str, Any]:
        """A new user (password ``USER_PASSWORD``) created with the admin's session."""
        body = {"username": f"{role.replace('_', '-')}-x{self.n()}", "password": USER_PASSWORD,
                "role": role, "teams": teams or []}  # fmt: skip
        user: dict[str, Any] = await self.call("POST", "/api/v1/users", self.admin, json=body)
        return user

    async def throwaway_user(self) -> dict[str, Any]:
        """A new viewer nobody else uses."""
        return await self.make_user("viewer")

    async def developer_key(self) -> str:
        """The record id of a new key owned by ``developer``."""
        body = await self.call(
            "POST", "/api/v1/api-keys", self.callers["developer"],
            json={"name": f"dev-key-{self.n()}", "scopes": ["server:read"]},
        )  # fmt: skip
        return str(body["id"])

    async def server(self, name: str | None = None) -> str:
        """Register a low server of team alpha owned by the admin; its name."""
        name = name or f"srv-{self.n()}"
        await self.call("POST", "/api/v1/servers", self.admin, json=server_body(name))
        return name


def server_body(name: str, sensitivity: str = "low", team: str = "alpha") -> dict[str, Any]:
    """Registration of an HTTP server with one tool of the same sensitivity."""
    return {
        "name": name,
        "transport": "http",
        "endpoint": "http://127.0.0.1:9/mcp",
        "sensitivity_level": sensitivity,
        "team": team,
        "tools": [{"name": TOOL, "sensitivity_level": sensitivity}],
    }


async def build_world(client: Any) -> World:
    """Create every caller of the matrix and the resources its rows aim at."""
    admin = await admin_headers(client)
    world = World(client, admin)
    callers = world.callers
    callers["anon"] = {}
    callers["admin"] = admin
    for role in ("viewer", "developer", "team_lead", "security_admin"):
        user = await create_user(client, role=role, teams=TEAMS.get(role, ()))
        world.usernames[role] = user["username"]
        world.ids[role] = str(user["id"])
    teams = await world.call("GET", "/api/v1/teams", admin)
    world.ids["alpha"] = next(t["id"] for t in teams["items"] if t["name"] == "alpha")
    await world.call(
        "PUT", f"/api/v1/teams/{world.ids['alpha']}/members", admin,
        json={"username": world.usernames["team_lead"], "is_lead": True},
    )  # fmt: skip
    for role in ("viewer", "developer", "team_lead", "security_admin"):
        callers[role] = await world.fresh(role)
    for scope in ("server:read", "server:write", "policy:evaluate", "audit:read", "gateway"):
        callers[f"key:{scope}"] = await api_key_headers(client, scopes=[scope])
    key = await world.call(
        "POST", "/api/v1/api-keys", admin, json={"name": "admin-key", "scopes": ["admin"]}
    )
    callers["key:admin"] = {"Authorization": f"Bearer {key['key']}"}
    key = await world.call(
        "POST", "/api/v1/api-keys", callers["viewer"],
        json={"name": "viewer-gateway", "scopes": ["gateway"]},
    )  # fmt: skip
    callers["viewer-key:gateway"] = {"X-API-Key": key["key"]}
    agent = await world.call(
        "POST", "/api/v1/gateway/agents/token", admin,
        json={"agent_id": "agent-one", "trust_level": "trusted", "capabilities": ["query"]},
    )  # fmt: skip
    callers["agent"] = {"Authorization": f"Bearer {agent['token']}"}
    callers["gateway-key"] = {"X-API-Key": GATEWAY_KEY}
    victim = await world.throwaway_user()
    world.ids["victim"], world.usernames["victim"] = str(victim["id"]), victim["username"]
    await world.server(SERVER)
    tools = await world.call("GET", "/api/v1/tools", admin, params={"q": TOOL})
    world.ids["tool"] = next(t["id"] for t in tools["items"] if t["server_name"] == SERVER)
    world.ids["dev-key"] = await world.developer_key()
    return world
