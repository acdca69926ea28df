"""The mixed workload: one wrk per endpoint class, all at once, fixed connections or rate.

Endpoint classes (each a pool of requests a Lua script picks from at random):

- ``authorize``: ``POST /api/v1/gateway/authorize`` as one of ~1,000 users, mostly on tools
  of their own teams' servers;
- ``evaluate``: ``POST /api/v1/policy/evaluate``, the same mix;
- ``authzen``: ``POST /access/v1/evaluations`` with 100 items, asked by a PEP API key;
- ``catalog``: server list (filters), server get, tool list, as users and catalog keys;
- ``audit``: ``GET /api/v1/audit`` with filters, as admins and audit keys.
"""

from __future__ import annotations

import json
import random
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tests.benchmarks import _wrk
from tests.load.seed import SeededServer, SeededUser, World

AUTHZEN_ITEMS: Final = 100
LUA_TEMPLATE: Final = Path(__file__).with_name("workload.lua")


@dataclass(frozen=True)
class Endpoint:
    """One endpoint class of the workload."""

    name: str
    url_path: str
    """Path wrk is pointed at (each request names its own path)."""
    connections: int
    decisions_per_request: int
    """Audited decisions one 2xx answer stands for (0: not a decision endpoint)."""


ENDPOINTS: Final = (
    Endpoint("authorize", "/api/v1/gateway/authorize", 12, 1),
    Endpoint("evaluate", "/api/v1/policy/evaluate", 12, 1),
    Endpoint("authzen", "/access/v1/evaluations", 4, AUTHZEN_ITEMS),
    Endpoint("catalog", "/api/v1/servers", 6, 0),
    Endpoint("audit", "/api/v1/audit", 2, 0),
)
BY_NAME: Final = {e.name: e for e in ENDPOINTS}

Request = tuple[str, str, str, str]
"""(method, path, header lines each ending in CRLF, body)."""


def _headers(credential: str, body: bool = True) -> str:
    lines = f"Authorization: Bearer {credential}\r\n"
    return lines + "Content-Type: application/json\r\n" if body else lines


def _parameters(rng: random.Random) -> dict[str, Any]:
    params: dict[str, Any] = {"query": f"select {rng.randrange(100)}", "limit": rng.randrange(50)}
    if rng.random() < 0.2:  # redaction work for the policy on high/critical tools
        params["credentials"] = {"password": "hunter2", "api_key": "k-123"}
    return params


def _pick(rng: random.Random, world: World, user: SeededUser) -> tuple[SeededServer, str]:
    """A server and tool: 80 % one of the user's teams' servers, else any."""
    own = [s for s in world.servers if s.team in user.teams]
    server = rng.choice(own) if own and rng.random() < 0.8 else rng.choice(world.servers)
    return server, rng.choice(list(server.tools))


def _callers(world: World) -> list[SeededUser]:
    return [u for u in world.users if u.role != "service"]


def _tool_calls(
    world: World, rng: random.Random, size: int, path: str, body: Callable[..., dict[str, Any]]
) -> list[Request]:
    """``size`` posts to ``path`` of one caller's tool call each, shaped by ``body``."""
    users = _callers(world)
    pool = []
    for _ in range(size):
        user = rng.choice(users)
        server, tool = _pick(rng, world, user)
        payload = body(server=server.name, tool=tool, parameters=_parameters(rng))
        pool.append(("POST", path, _headers(user.token), json.dumps(payload)))
    return pool


def authorize_pool(world: World, rng: random.Random, size: int = 4000) -> list[Request]:
    """Gateway authorize questions."""
    return _tool_calls(world, rng, size, "/api/v1/gateway/authorize",
                       lambda server, tool, parameters: {
                           "action": "gateway:tool:invoke", "server_name": server,
                           "tool_name": tool, "parameters": parameters})  # fmt: skip


def evaluate_pool(world: World, rng: random.Random, size: int = 4000) -> list[Request]:
    """1.0 policy evaluations."""
    return _tool_calls(world, rng, size, "/api/v1/policy/evaluate",
                       lambda server, tool, parameters: {
                           "action": "tool:invoke", "server": server, "tool": tool,
                           "parameters": parameters})  # fmt: skip


def authzen_pool(world: World, rng: random.Random, size: int = 120) -> list[Request]:
    """AuthZEN batches of 100 tool calls for one subject (a user), asked by a PEP key."""
    users = _callers(world)
    pool = []
    for _ in range(size):
        user = rng.choice(users)
        items = []
        for _ in range(AUTHZEN_ITEMS):
            server, tool = _pick(rng, world, user)
            items.append({"resource": {"type": "tool", "id": tool,
                                       "properties": {"server": server.name}}})  # fmt: skip
        body = {"subject": {"type": "identity", "id": user.username},
                "action": {"name": "tools/call"}, "evaluations": items}  # fmt: skip
        key = rng.choice(world.keys["pep"])
        pool.append(("POST", "/access/v1/evaluations", _headers(key), json.dumps(body)))
    return pool


def catalog_pool(world: World, rng: random.Random, size: int = 2000) -> list[Request]:
    """Catalog reads: list servers (filtered), get a server, list tools."""
    credentials = [u.token for u in world.users] + world.keys["catalog"]
    teams = sorted({s.team for s in world.servers})
    pool = []
    for _ in range(size):
        credential = rng.choice(credentials)
        roll = rng.random()
        if roll < 0.35:
            query: dict[str, Any] = {"limit": rng.choice([20, 50])}
            if rng.random() < 0.5:
                query["team"] = rng.choice(teams)
            path = "/api/v1/servers?" + urllib.parse.urlencode(query)
        elif roll < 0.8:
            path = f"/api/v1/servers/{rng.choice(world.servers).name}"
        else:
            level = rng.choice(["low", "medium", "high", "critical"])
            path = f"/api/v1/tools?limit=20&sensitivity={level}"
        pool.append(("GET", path, _headers(credential, body=False), ""))
    return pool


def audit_pool(world: World, rng: random.Random, size: int = 500) -> list[Request]:
    """Audit-trail queries by admins, security admins and audit keys."""
    readers = [u.token for u in world.users if u.role in {"admin", "security_admin"}]
    credentials = readers + world.keys["audit"]
    pool = []
    for _ in range(size):
        query: dict[str, Any] = {"limit": rng.choice([20, 50, 100])}
        roll = rng.random()
        if roll < 0.25:
            query["action"] = rng.choice(["tool:invoke", "gateway:tool:invoke"])
        elif roll < 0.5:
            query["decision"] = "deny"
        elif roll < 0.75:
            query["server"] = rng.choice(world.servers).name
        path = "/api/v1/audit?" + urllib.parse.urlencode(query)
        pool.append(("GET", path, _headers(rng.choice(credentials), body=False), ""))
    return pool


POOLS: Final = {
    "authorize": authorize_pool,
    "evaluate": evaluate_pool,
    "authzen": authzen_pool,
    "catalog": catalog_pool,
    "audit": audit_pool,
}


def lua_string(text: str) -> str:
    """``text`` as a Lua string literal."""
    out = []
    for char in text:
        code = ord(char)
        if char in {'"', "\\"}:
            out.append("\\" + char)
        elif 32 <= code < 127:
            out.append(char)
        else:
            out.extend(f"\\{byte}" for byte in char.encode())
    return '"' + "".join(out) + '"'


def write_data(path: Path, pool: list[Request]) -> None:
    """Store a request pool (reused by every run of the endpoint)."""
    path.write_text(json.dumps(pool))


def write_script(
    path: Path,
    *,
    host: str,
    prefix: str,
    pool: list[Request],
    rate: float,
    ids_file: Path | None,
    seed: int,
) -> None:
    """A wrk script driving ``pool`` (``rate`` requests/s in total; 0 for as fast as it can)."""
    interval = 1000.0 / rate if rate > 0 else 0.0  # one wrk thread per endpoint
    requests = ",\n".join(
        "{" + ",".join(lua_string(part) for part in request) + "}" for request in pool
    )
    ids = lua_string(str(ids_file)) if ids_file else "nil"
    head = (
        f"cfg = {{host = {lua_string(host)}, prefix = {lua_string(prefix)}, "
        f"interval_ms = {interval:.6f}, ids_file = {ids}, seed = {seed},\n"
        f"requests = {{\n{requests}\n}}}}\n"
    )
    path.write_text(head + LUA_TEMPLATE.read_text() + _wrk.REPORT_LUA)


@dataclass
class Phase:
    """One concurrent run of every endpoint class."""

    label: str
    results: dict[str, _wrk.WrkResult]
    answered: dict[str, Path]
    """Endpoint name -> prefix of the files holding the ids of its 2xx answers."""


def run_phase(
    base: str,
    workdir: Path,
    label: str,
    pools: dict[str, list[Request]],
    *,
    duration: float,
    rates: dict[str, float] | None,
    seed: int,
) -> Phase:
    """Drive every endpoint at once for ``duration`` seconds (fixed ``rates`` if given)."""
    host = base.removeprefix("http://")
    processes = {}
    answered = {}
    for endpoint in ENDPOINTS:
        ids = None
        if endpoint.decisions_per_request:
            ids = workdir / f"ids-{label}-{endpoint.name}"
            answered[endpoint.name] = ids
        script = workdir / f"{label}-{endpoint.name}.lua"
        write_script(script, host=host, prefix=f"ld-{endpoint.name}-{label}",
                     pool=pools[endpoint.name], rate=(rates or {}).get(endpoint.name, 0.0),
                     ids_file=ids, seed=seed)  # fmt: skip
        processes[endpoint.name] = _wrk.start(
            base + endpoint.url_path, script, duration=duration,
            connections=endpoint.connections, threads=1, timeout=10,
        )  # fmt: skip
    try:
        results = {name: _wrk.finish(process) for name, process in processes.items()}
    finally:
        for process in processes.values():  # interrupted: stop the other load generators
            if process.poll() is None:
                process.terminate()
                process.wait()
    return Phase(label, results, answered)
