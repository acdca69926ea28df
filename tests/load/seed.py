"""A realistic catalog and population, written in bulk through SARK's own models.

Teams, users (one argon2 hash shared by all: hashing 1,000 passwords would take minutes and
measure nothing), team memberships with leads, servers with tools of mixed sensitivity
(declared or derived by SARK's own rules through ``new_tool``), API keys for a sample
(PEP keys with the ``gateway`` scope, catalog readers, audit readers), and one login
session per user whose access token is signed with the server's own key, exactly as
``POST /api/v1/auth/login`` would issue it.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from sark.api.db.engine import create_engine
from sark.api.domain.catalog._tools import new_tool
from sark.api.domain.catalog.discovery import DiscoveredTool
from sark.api.domain.catalog.models import Server, Tool
from sark.api.domain.identity.models import ApiKey, AuthSession, Team, TeamMember, User
from sark.api.security.apikeys import ApiKeyHasher, generate_api_key
from sark.api.security.passwords import PasswordHasher
from sark.api.security.tokens import JwtCodec
from sark.core.models import Sensitivity
from sark.core.settings import Settings

USER_PASSWORD: Final = "load-user-password"
LEVELS: Final = (Sensitivity.LOW, Sensitivity.MEDIUM, Sensitivity.HIGH, Sensitivity.CRITICAL)
SERVER_LEVEL_WEIGHTS: Final = (30, 40, 20, 10)
#: Role of every non-lead user, in proportion.
ROLE_WEIGHTS: Final = {"developer": 70, "viewer": 20, "service": 4, "security_admin": 3,
                       "admin": 3}  # fmt: skip
#: Tool name stems: some carry keywords SARK derives a level from, some do not.
VERBS: Final = ("get", "list", "search", "read", "create", "update", "delete", "run", "export",
                "sync")  # fmt: skip
NOUNS: Final = ("records", "files", "query", "issues", "users", "metrics", "tickets", "secrets",
                "payments", "logs", "documents", "builds", "credentials", "reports")  # fmt: skip


@dataclass(frozen=True)
class Scale:
    """How big the seeded world is."""

    teams: int = 60
    users: int = 1200
    servers: int = 240
    tools_per_server: int = 25
    api_keys: int = 60


@dataclass
class SeededUser:
    """A user the workload may act as."""

    username: str
    role: str
    teams: list[str]
    token: str


@dataclass
class SeededServer:
    """A server and its tools (name -> effective level)."""

    name: str
    team: str
    level: str
    tools: dict[str, str]


@dataclass
class World:
    """What was seeded, and how long it took."""

    users: list[SeededUser] = field(default_factory=list)
    servers: list[SeededServer] = field(default_factory=list)
    keys: dict[str, list[str]] = field(default_factory=dict)
    """Presented API keys by purpose: ``pep``, ``catalog``, ``audit``."""
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _tool_definition(rng: random.Random, index: int) -> tuple[DiscoveredTool, Sensitivity | None]:
    verb, noun = rng.choice(VERBS), rng.choice(NOUNS)
    name = f"{verb}_{noun}_{index:02d}"
    annotations: dict[str, Any] = {}
    if verb in {"get", "list", "search", "read"} and rng.random() < 0.5:
        annotations["readOnlyHint"] = True
    if verb == "delete":
        annotations["destructiveHint"] = True
    schema = {"type": "object", "properties": {"query": {"type": "string"},
                                                "limit": {"type": "integer"}}}  # fmt: skip
    definition = DiscoveredTool(
        name=name, description=f"{verb} {noun} of the service", input_schema=schema,
        annotations=annotations,
    )  # fmt: skip
    # About a third of the tools declare their level; the rest get SARK's derived level.
    declared = rng.choices(LEVELS, weights=(35, 35, 20, 10))[0] if rng.random() < 0.35 else None
    return definition, declared


def _people(
    rng: random.Random, scale: Scale, password_hash: str
) -> tuple[list[Team], list[User], dict[uuid.UUID, list[str]], list[TeamMember]]:
    """Teams, users (the first user of each team leads it), and memberships."""
    teams = [Team(id=uuid.uuid4(), name=f"team-{i:02d}", description="load test team")
             for i in range(scale.teams)]  # fmt: skip
    users: list[User] = []
    memberships: dict[uuid.UUID, list[str]] = {}
    members: list[TeamMember] = []
    for i in range(scale.users):
        team = teams[i % scale.teams]
        lead = i < scale.teams
        role = "team_lead" if lead else rng.choices(
            list(ROLE_WEIGHTS), weights=list(ROLE_WEIGHTS.values()))[0]  # fmt: skip
        user = User(id=uuid.uuid4(), username=f"user-{i:04d}", email=f"user-{i:04d}@load.example",
                    role=role, is_active=True, auth_provider="local",
                    password_hash=password_hash)  # fmt: skip
        users.append(user)
        joined = [team]
        if rng.random() < 0.3:  # some people work in two teams
            other = teams[rng.randrange(scale.teams)]
            if other is not team:
                joined.append(other)
        memberships[user.id] = sorted(t.name for t in joined)
        members += [TeamMember(team_id=t.id, user_id=user.id, is_lead=lead and t is team)
                    for t in joined]  # fmt: skip
    return teams, users, memberships, members


def _catalog(
    rng: random.Random, scale: Scale, team_users: dict[str, list[User]]
) -> tuple[list[Server | Tool], list[SeededServer]]:
    """Servers of every team with their tools (levels declared or derived by SARK)."""
    rows: list[Server | Tool] = []
    seeded: list[SeededServer] = []
    teams = sorted(team_users)
    for s in range(scale.servers):
        team = teams[s % len(teams)]
        owner = rng.choice(team_users[team])
        level = rng.choices(LEVELS, weights=SERVER_LEVEL_WEIGHTS)[0]
        server = Server(
            id=uuid.uuid4(), name=f"srv-{s:03d}", description=f"MCP server {s}",
            transport="http", endpoint=f"http://127.0.0.1:9/mcp/{s}", command=None, args=[],
            sensitivity_level=level.value, team=team, owner=str(owner.id),
            tags=sorted({rng.choice(["db", "files", "crm", "ci", "finance"]), "load"}),
            status="active", origin="manual", version=1,
        )  # fmt: skip
        rows.append(server)
        entry = SeededServer(server.name, team, level.value, {})
        for t in range(scale.tools_per_server):
            definition, declared = _tool_definition(rng, t)
            tool = new_tool(server.id, definition, declared=declared,
                            requires_approval=declared is Sensitivity.CRITICAL)  # fmt: skip
            rows.append(tool)
            entry.tools[tool.name] = tool.effective_sensitivity.value
        seeded.append(entry)
    return rows, seeded


def _keys(
    rng: random.Random, scale: Scale, users: list[User], hasher: ApiKeyHasher
) -> tuple[list[ApiKey], dict[str, list[str]]]:
    """API keys for a sample: PEP keys (gateway), catalog readers, audit readers."""
    admin = next(u for u in users if u.role == "admin")
    purposes = (("pep", "gateway"), ("catalog", "server:read"), ("audit", "audit:read"))
    rows: list[ApiKey] = []
    presented: dict[str, list[str]] = {}
    for k in range(scale.api_keys):
        purpose, scope = purposes[k % len(purposes)]
        owner = admin if purpose != "catalog" else users[rng.randrange(len(users))]
        key_id, secret, key = generate_api_key()
        rows.append(ApiKey(id=uuid.uuid4(), key_id=key_id, name=f"load-{purpose}-{k}",
                           secret_hash=hasher.hexdigest(secret), scopes=scope,
                           owner_id=owner.id))  # fmt: skip
        presented.setdefault(purpose, []).append(key)
    return rows, presented


async def seed(settings: Settings, scale: Scale, seed_value: int = 7) -> World:
    """Write the world into the (migrated) database of ``settings``."""
    started = time.perf_counter()
    rng = random.Random(seed_value)
    world = World()
    codec = JwtCodec.from_settings(settings)
    pepper = settings.auth.api_key_pepper
    assert pepper, "the harness sets SARK_API_KEY_PEPPER so keys can be made here"
    now = datetime.now(UTC)
    teams, users, memberships, members = _people(
        rng, scale, await PasswordHasher().hash(USER_PASSWORD)
    )
    team_users = {t.name: [u for u in users if t.name in memberships[u.id]] for t in teams}
    catalog, world.servers = _catalog(rng, scale, team_users)
    keys, world.keys = _keys(rng, scale, users, ApiKeyHasher(pepper.reveal()))
    sessions = []
    for user in users:
        session = AuthSession(id=uuid.uuid4(), user_id=user.id, expires_at=now + timedelta(days=1),
                              last_used_at=now, client_ip="127.0.0.1",
                              user_agent="sark-load")  # fmt: skip
        sessions.append(session)
        claims = {"sub": str(user.id), "role": user.role, "teams": memberships[user.id],
                  "name": user.username, "sid": str(session.id)}  # fmt: skip
        world.users.append(SeededUser(user.username, user.role, memberships[user.id],
                                      codec.issue(claims).token))  # fmt: skip
    engine = create_engine(settings.database)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as db:
            # The models declare no relationships, so the unit of work cannot order inserts
            # by foreign key: parents are flushed first, one layer at a time.
            servers = [row for row in catalog if isinstance(row, Server)]
            tools = [row for row in catalog if isinstance(row, Tool)]
            for layer in ([*teams, *users], [*members, *keys, *sessions, *servers], tools):
                db.add_all(layer)
                await db.flush()
            await db.commit()
    finally:
        await engine.dispose()
    world.seconds = time.perf_counter() - started
    world.counts = {"teams": scale.teams, "users": scale.users, "servers": scale.servers,
                    "tools": scale.servers * scale.tools_per_server,
                    "api_keys": scale.api_keys, "memberships": len(members)}  # fmt: skip
    return world
