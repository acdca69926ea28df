"""Authorization bypass suite: every route x every caller against ``route_matrix.MATRIX``.

The app has every plugin on. Each row of the matrix is exercised with a request that
reaches the handler's own checks (a valid body, a target resource that exists), so a
denial measured here is the route's guard or the policy, not a 422. Destructive routes
get a fresh target per call; routes that end the caller's session get a fresh session.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from litestar.testing import AsyncTestClient
from tests.security.route_matrix import CALLERS, DENY, HIDE, KEYS, MATRIX, OK, UNAUTH, USERS
from tests.security.world import SERVER, TOOL, World, build_world, server_body

Client = AsyncTestClient[Any]


@dataclass
class Req:
    """One request of the matrix."""

    path: str
    json: Any = None
    params: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    """Replaces the caller's shared headers (a fresh session of the same caller)."""


Builder = Callable[[World, str], Awaitable[Req]]


def fixed(path: str, json: Any = None, **params: str) -> Builder:
    """Always the same request."""

    async def build(world: World, who: str) -> Req:
        return Req(path, json, params or None)

    return build


async def _login(world: World, who: str) -> Req:
    name = world.usernames["victim"]
    return Req("/api/v1/auth/login", {"username": name, "password": "user-test-password"})


async def _refresh(world: World, who: str) -> Req:
    body = await world.call(
        "POST", "/api/v1/auth/login", {},
        json={"username": world.usernames["victim"], "password": "user-test-password"},
    )  # fmt: skip
    return Req("/api/v1/auth/refresh", {"refresh_token": body["refresh_token"]})


async def _logout(world: World, who: str) -> Req:
    return Req("/api/v1/auth/logout", headers=await world.fresh(who) if who in USERS else None)


async def _logout_all(world: World, who: str) -> Req:
    return Req("/api/v1/auth/logout-all", headers=await world.clone(who) if who in USERS else None)


async def _delete_session(world: World, who: str) -> Req:
    if who not in USERS:
        return Req(f"/api/v1/auth/sessions/{uuid.uuid4()}")
    headers = await world.fresh(who)
    sessions = await world.call("GET", "/api/v1/auth/sessions", headers)
    current = next(s["id"] for s in sessions if s["current"])
    return Req(f"/api/v1/auth/sessions/{current}", headers=headers)


async def _new_user(world: World, who: str) -> Req:
    n = world.n()
    return Req(
        "/api/v1/users",
        {"username": f"made-{n}", "password": "made-password-0001", "role": "viewer"},
    )


async def _victim(world: World, who: str) -> Req:
    return Req(f"/api/v1/users/{world.ids['victim']}", {"display_name": f"renamed {world.n()}"})


async def _doomed_user(world: World, who: str) -> Req:
    return Req(f"/api/v1/users/{(await world.throwaway_user())['id']}")


async def _alpha(world: World, who: str) -> Req:
    return Req(f"/api/v1/teams/{world.ids['alpha']}", {"description": f"d{world.n()}"})


async def _create_team(world: World, who: str) -> Req:
    return Req("/api/v1/teams", {"name": f"new-team-{world.n()}"})


async def _doomed_team(world: World, who: str) -> Req:
    team = await world.call("POST", "/api/v1/teams", world.admin, json={"name": f"t-{world.n()}"})
    return Req(f"/api/v1/teams/{team['id']}")


async def _put_member(world: World, who: str) -> Req:
    body = {"username": world.usernames["victim"], "is_lead": False}
    return Req(f"/api/v1/teams/{world.ids['alpha']}/members", body)


async def _delete_member(world: World, who: str) -> Req:
    alpha = world.ids["alpha"]
    await world.call(
        "PUT", f"/api/v1/teams/{alpha}/members", world.admin,
        json={"username": world.usernames["victim"], "is_lead": False},
    )  # fmt: skip
    return Req(f"/api/v1/teams/{alpha}/members/{world.ids['victim']}")


async def _new_key(world: World, who: str) -> Req:
    return Req("/api/v1/api-keys", {"name": f"k-{world.n()}", "scopes": ["server:read"]})


def _dev_key(suffix: str = "") -> Builder:
    async def build(world: World, who: str) -> Req:
        return Req(f"/api/v1/api-keys/{await world.developer_key()}{suffix}")

    return build


async def _register(world: World, who: str) -> Req:
    return Req("/api/v1/servers", server_body(f"reg-{world.n()}"))


async def _doomed_server(world: World, who: str) -> Req:
    return Req(f"/api/v1/servers/{await world.server()}")


def _tool(suffix: str = "", json: Any = None) -> Builder:
    async def build(world: World, who: str) -> Req:
        return Req(f"/api/v1/tools/{world.ids['tool']}{suffix}", json)

    return build


async def _evaluation(world: World, who: str) -> Req:
    return Req("/access/v1/evaluation", _authzen(world))


async def _evaluations(world: World, who: str) -> Req:
    return Req("/access/v1/evaluations", {"evaluations": [_authzen(world)]})


def _authzen(world: World) -> dict[str, Any]:
    return {
        "subject": {"type": "user", "id": world.usernames["developer"]},
        "action": {"name": "tools/call"},
        "resource": {"type": "tool", "id": TOOL},
    }


async def _opa_data(world: World, who: str) -> Req:
    payload = {
        "action": "gateway:tool:invoke",
        "subject": {"id": world.usernames["developer"]},
        "resource": {"server": SERVER, "tool": TOOL},
    }
    return Req("/v1/data/mcp/gateway/decision", {"input": payload})


async def _agent_token(world: World, who: str) -> Req:
    return Req("/api/v1/gateway/agents/token", {"agent_id": f"agent-{world.n()}"})


EVALUATE = {"action": "tool:invoke", "server": SERVER, "tool": TOOL}
AUTHORIZE = {"action": "gateway:tool:invoke", "server_name": SERVER, "tool_name": TOOL}

REQUESTS: dict[tuple[str, str], Builder] = {
    ("GET", "/health"): fixed("/health"),
    ("GET", "/health/live"): fixed("/health/live"),
    ("GET", "/health/ready"): fixed("/health/ready"),
    ("GET", "/metrics"): fixed("/metrics"),
    ("GET", "/api/v1/version"): fixed("/api/v1/version"),
    ("GET", "/version"): fixed("/version"),
    ("GET", "/.well-known/jwks.json"): fixed("/.well-known/jwks.json"),
    ("GET", "/schema"): fixed("/schema"),
    ("GET", "/schema/{path:str}"): fixed("/schema/openapi.yaml"),
    ("GET", "/schema/openapi.json"): fixed("/schema/openapi.json"),
    ("GET", "/schema/oauth2-redirect.html"): fixed("/schema/oauth2-redirect.html"),
    ("POST", "/api/v1/auth/login"): _login,
    ("POST", "/api/v1/auth/refresh"): _refresh,
    ("POST", "/api/v1/auth/logout"): _logout,
    ("POST", "/api/v1/auth/logout-all"): _logout_all,
    ("GET", "/api/v1/auth/me"): fixed("/api/v1/auth/me"),
    ("GET", "/api/v1/auth/sessions"): fixed("/api/v1/auth/sessions"),
    ("DELETE", "/api/v1/auth/sessions/{session_id:uuid}"): _delete_session,
    ("POST", "/api/v1/users"): _new_user,
    ("GET", "/api/v1/users"): fixed("/api/v1/users"),
    ("GET", "/api/v1/users/{user_id:uuid}"): _victim,
    ("PATCH", "/api/v1/users/{user_id:uuid}"): _victim,
    ("DELETE", "/api/v1/users/{user_id:uuid}"): _doomed_user,
    ("POST", "/api/v1/teams"): _create_team,
    ("GET", "/api/v1/teams"): fixed("/api/v1/teams"),
    ("GET", "/api/v1/teams/{team_id:uuid}"): _alpha,
    ("PATCH", "/api/v1/teams/{team_id:uuid}"): _alpha,
    ("DELETE", "/api/v1/teams/{team_id:uuid}"): _doomed_team,
    ("PUT", "/api/v1/teams/{team_id:uuid}/members"): _put_member,
    ("DELETE", "/api/v1/teams/{team_id:uuid}/members/{user_id:uuid}"): _delete_member,
    ("POST", "/api/v1/api-keys"): _new_key,
    ("GET", "/api/v1/api-keys"): fixed("/api/v1/api-keys"),
    ("GET", "/api/v1/api-keys/{key_id:uuid}"): _dev_key(),
    ("POST", "/api/v1/api-keys/{key_id:uuid}/rotate"): _dev_key("/rotate"),
    ("POST", "/api/v1/api-keys/{key_id:uuid}/revoke"): _dev_key("/revoke"),
    ("DELETE", "/api/v1/api-keys/{key_id:uuid}"): _dev_key(),
    ("POST", "/api/v1/policy/evaluate"): fixed("/api/v1/policy/evaluate", EVALUATE),
    ("GET", "/api/v1/policy/bundle"): fixed("/api/v1/policy/bundle"),
    ("POST", "/api/v1/policy/reload"): fixed("/api/v1/policy/reload"),
    ("POST", "/api/v1/servers"): _register,
    ("GET", "/api/v1/servers"): fixed("/api/v1/servers"),
    ("GET", "/api/v1/servers/{server:str}"): fixed(f"/api/v1/servers/{SERVER}"),
    ("PATCH", "/api/v1/servers/{server:str}"): fixed(
        f"/api/v1/servers/{SERVER}", {"description": "changed"}
    ),
    ("DELETE", "/api/v1/servers/{server:str}"): _doomed_server,
    ("POST", "/api/v1/servers/{server:str}/discover"): fixed(f"/api/v1/servers/{SERVER}/discover"),
    ("GET", "/api/v1/tools"): fixed("/api/v1/tools"),
    ("GET", "/api/v1/tools/{tool_id:uuid}"): _tool(),
    ("PATCH", "/api/v1/tools/{tool_id:uuid}/sensitivity"): _tool(
        "/sensitivity", {"sensitivity_level": "low", "reason": "bypass suite"}
    ),
    ("GET", "/api/v1/tools/{tool_id:uuid}/sensitivity-history"): _tool("/sensitivity-history"),
    ("GET", "/api/v1/audit"): fixed("/api/v1/audit", limit="5"),
    ("GET", "/api/v1/audit/export"): fixed("/api/v1/audit/export", since="2999-01-01T00:00:00Z"),
    ("GET", "/admin/features"): fixed("/admin/features"),
    ("POST", "/admin/rollout/update"): fixed(
        "/admin/rollout/update", {"feature": "rust_cache", "percentage": 0}
    ),
    ("POST", "/admin/rollout/rollback"): fixed(
        "/admin/rollout/rollback", {"feature": "rust_cache"}
    ),
    ("POST", "/admin/cache/cleanup"): fixed("/admin/cache/cleanup"),
    ("POST", "/api/v1/gateway/authorize"): fixed("/api/v1/gateway/authorize", AUTHORIZE),
    ("GET", "/api/v1/gateway/servers"): fixed("/api/v1/gateway/servers"),
    ("GET", "/api/v1/gateway/tools"): fixed("/api/v1/gateway/tools"),
    ("POST", "/api/v1/gateway/audit"): fixed(
        "/api/v1/gateway/audit", {"event_type": "tool_call", "message": "bypass suite"}
    ),
    ("POST", "/api/v1/gateway/sync"): fixed("/api/v1/gateway/sync"),
    ("GET", "/.well-known/authzen-configuration"): fixed("/.well-known/authzen-configuration"),
    ("POST", "/access/v1/evaluation"): _evaluation,
    ("POST", "/access/v1/evaluations"): _evaluations,
    ("POST", "/v1/data/{path:path}"): _opa_data,
    ("POST", "/api/v1/gateway/authorize-a2a"): fixed(
        "/api/v1/gateway/authorize-a2a", {"action": "a2a:query", "target_agent": {"id": "peer"}}
    ),
    ("POST", "/api/v1/gateway/agents/token"): _agent_token,
}

# A 502/503 is the honest answer of these routes here: no registry, no reachable MCP server.
UNAVAILABLE_OK = {
    ("POST", "/api/v1/gateway/sync"),
    ("POST", "/api/v1/servers/{server:str}/discover"),
}


def app_routes(client: Client) -> set[tuple[str, str]]:
    """Every (method, path template) the app serves, OPTIONS (preflight) aside."""
    found: set[tuple[str, str]] = set()
    for route in client.app.routes:
        for handler in getattr(route, "route_handlers", ()):
            for method in getattr(handler, "http_methods", ()) or ("WEBSOCKET",):
                if method != "OPTIONS":
                    found.add((method, route.path))
    return found


def outcome(status: int) -> str:
    """The matrix outcome a status code means."""
    return {401: UNAUTH, 403: DENY, 404: HIDE}.get(status, OK)


async def test_every_route_has_a_row_and_every_row_a_route(full: Client) -> None:
    routes = app_routes(full)
    assert sorted(routes - MATRIX.keys()) == [], "routes without a row in route_matrix.MATRIX"
    assert sorted(MATRIX.keys() - routes) == [], "rows of route_matrix.MATRIX without a route"
    assert sorted(routes ^ REQUESTS.keys()) == [], "routes without a request in REQUESTS"
    for key, row in MATRIX.items():
        assert set(row) == set(CALLERS), key


async def test_no_guard_runs_on_a_thread(full: Client) -> None:
    # Litestar runs a plain-function guard in a worker thread: a thread hand-off and back
    # on every request (evaluate went from 3,708 to 4,734 req/s when the guards became
    # coroutines). Every guard of every route must be a coroutine function.
    threaded = set()
    for route in full.app.routes:
        for handler in getattr(route, "route_handlers", ()):
            for layer in handler.ownership_layers:
                for guard in layer.guards or ():
                    if not inspect.iscoroutinefunction(guard):
                        threaded.add((route.path, getattr(guard, "__qualname__", repr(guard))))
    assert sorted(threaded) == []


async def test_every_route_answers_every_caller_as_the_matrix_says(full: Client) -> None:
    world = await build_world(full)
    mismatches: list[str] = []
    for (method, template), row in MATRIX.items():
        for who in CALLERS:
            req = await REQUESTS[method, template](world, who)
            headers = req.headers if req.headers is not None else world.callers[who]
            kwargs: dict[str, Any] = {"headers": headers, "params": req.params}
            if req.json is not None:
                kwargs["json"] = req.json
            response = await full.request(method, req.path, **kwargs)
            got, want = outcome(response.status_code), row[who]
            broken = response.status_code >= 500 and not (
                response.status_code in {502, 503} and (method, template) in UNAVAILABLE_OK
            )
            if got != want or broken:
                mismatches.append(
                    f"{method} {template} as {who}: want {want}, got "
                    f"{response.status_code} {response.text[:160]}"
                )
    assert mismatches == [], "\n".join(mismatches)


async def test_preflight_never_runs_a_handler(full: Client) -> None:
    # OPTIONS (CORS preflight) of a protected route needs credentials like any method; where
    # it is answered (public and plugin routes), it only lists the allowed methods.
    for method, template in sorted(MATRIX):
        path = template.replace("{server:str}", SERVER).replace("{path:path}", "mcp/gateway")
        for name in ("{session_id:uuid}", "{user_id:uuid}", "{team_id:uuid}",
                     "{key_id:uuid}", "{tool_id:uuid}", "{path:str}"):  # fmt: skip
            path = path.replace(name, str(uuid.uuid4()) if "uuid" in name else "x")
        response = await full.options(path)
        assert response.status_code in {204, 401}, (path, response.status_code, response.text)
        if response.status_code == 204:
            assert response.content == b"", path
            assert "OPTIONS" in response.headers["allow"], path
        elif MATRIX[method, template]["anon"] == OK:
            raise AssertionError(f"OPTIONS {path} refused on a public route")


def test_the_matrix_covers_every_kind_of_caller() -> None:
    # A matrix that only ever expects OK would prove nothing: every caller is denied
    # somewhere and allowed somewhere (anonymous: the public routes).
    for who in CALLERS:
        outcomes = {row[who] for row in MATRIX.values()}
        assert OK in outcomes, who
        assert outcomes & {DENY, UNAUTH, HIDE}, who
    assert {row["anon"] for row in MATRIX.values()} == {OK, UNAUTH, HIDE}
    assert all(row[k] != UNAUTH for row in MATRIX.values() for k in (*USERS, *KEYS))
