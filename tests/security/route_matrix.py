"""Who may call which route: the table the bypass suite checks against the live app.

Every route of the app with every plugin enabled (gateway and A2A on) has one row:
``(method, path template) -> {caller: outcome}``. A new route without a row, or a row
without a route, fails ``test_bypass.py``. Outcomes:

- ``OK``: the request reaches the handler (anything but 401, 403, 404 and 500);
- ``DENY``: 403, the caller is known but lacks the role, scope or policy allow;
- ``HIDE``: 404, the resource is not shown to this caller (teams, keys of others);
- ``UNAUTH``: 401, the credential is missing or not accepted here.

Callers: ``anon`` (no credential); users logged in with a password (``viewer``,
``developer`` and ``team_lead`` of team ``alpha`` — the lead flagged lead —, ``security_admin``,
``admin``); API keys owned by a ``service`` user with one scope each (``key:<scope>``; a
key needs at least one scope); ``key:admin`` (an admin's key with the ``admin`` scope);
``viewer-key:gateway`` (a viewer's key with the ``gateway`` scope); ``agent`` (an agent
token issued by the admin) and ``gateway-key`` (the shared ``GATEWAY_API_KEY``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

OK: Final = "ok"
DENY: Final = "forbidden"
HIDE: Final = "hidden"
UNAUTH: Final = "unauthenticated"

USERS: Final = ("viewer", "developer", "team_lead", "security_admin", "admin")
SERVICE_KEYS: Final = (
    "key:server:read",
    "key:server:write",
    "key:policy:evaluate",
    "key:audit:read",
    "key:gateway",
)
KEYS: Final = (*SERVICE_KEYS, "key:admin", "viewer-key:gateway")
CALLERS: Final = ("anon", *USERS, *KEYS, "agent", "gateway-key")
ADMINS: Final = ("admin", "key:admin")

Row = dict[str, str]


def row(
    ok: Iterable[str] = (),
    *,
    hide: Iterable[str] = (),
    unauth: Iterable[str] = ("anon", "agent", "gateway-key"),
) -> Row:
    """Outcomes of every caller: ``ok``/``hide``/``unauth`` as named, everyone else DENY."""
    ok, hide, unauth = set(ok), set(hide), set(unauth)
    assert not ok & hide, "a caller has two outcomes"
    assert not ok & unauth, "a caller has two outcomes"
    assert not hide & unauth, "a caller has two outcomes"
    unknown = (ok | hide | unauth) - set(CALLERS)
    assert not unknown, f"unknown callers {unknown}"
    return {
        c: OK if c in ok else HIDE if c in hide else UNAUTH if c in unauth else DENY
        for c in CALLERS
    }


PUBLIC: Final = row(CALLERS, unauth=())
"""Answered without credentials (probes, version, JWKS, login, refresh, OpenAPI)."""
AUTHENTICATED: Final = row((*USERS, *KEYS))
"""Any SARK credential (keys answer 422 where only users make sense: sessions)."""
ADMIN_ONLY: Final = row(ADMINS)
USER_ADMIN: Final = row(ADMINS)
TEAM_ALPHA_READ: Final = row(
    ("admin", "security_admin", "developer", "team_lead", "key:admin"),
    hide=("viewer", *SERVICE_KEYS, "viewer-key:gateway"),
)
TEAM_ALPHA_LEAD: Final = row(
    ("admin", "team_lead", "key:admin"),
    hide=("viewer", *SERVICE_KEYS, "viewer-key:gateway"),
)
KEY_OWNER_READ: Final = row(
    ("admin", "security_admin", "developer", "key:admin"),
    hide=("viewer", "team_lead"),
)
"""A key of ``developer``: its owner and the admins see it; API keys need ``admin``."""
KEY_OWNER_ROTATE: Final = row(("admin", "developer", "key:admin"), hide=("viewer", "team_lead"))
"""Rotation hands out the new secret: the owner or an admin only (not security_admin)."""
CATALOG_READ: Final = row((*USERS, "key:server:read", "key:admin"))
CATALOG_MANAGE: Final = row(("admin", "team_lead", "key:admin"))
"""Update/delete/discover a server of team alpha owned by the admin (policy decides)."""
AUDIT_READ: Final = row(("admin", "security_admin", "key:audit:read", "key:admin"))
GATEWAY_CALLER: Final = row(
    (*USERS, "key:gateway", "viewer-key:gateway", "key:admin", "agent"),
    unauth=("anon", "gateway-key"),
)
PEP: Final = row(("admin", "key:gateway", "key:admin", "gateway-key"), unauth=("anon",))
"""Decision APIs for enforcement points: admin, service/admin ``gateway`` keys, shared key."""

MATRIX: Final[dict[tuple[str, str], Row]] = {
    # health, version, metrics, JWKS, OpenAPI: public by design (docs/security.md)
    ("GET", "/health"): PUBLIC,
    ("GET", "/health/live"): PUBLIC,
    ("GET", "/health/ready"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/api/v1/version"): PUBLIC,
    ("GET", "/version"): PUBLIC,
    ("GET", "/.well-known/jwks.json"): PUBLIC,
    ("GET", "/schema"): PUBLIC,
    ("GET", "/schema/{path:str}"): row(hide=CALLERS, unauth=()),  # unknown pages: 404, never 401
    ("GET", "/schema/openapi.json"): PUBLIC,
    ("GET", "/schema/oauth2-redirect.html"): PUBLIC,
    # auth
    ("POST", "/api/v1/auth/login"): PUBLIC,
    ("POST", "/api/v1/auth/refresh"): PUBLIC,
    ("POST", "/api/v1/auth/logout"): AUTHENTICATED,
    ("POST", "/api/v1/auth/logout-all"): AUTHENTICATED,
    ("GET", "/api/v1/auth/me"): AUTHENTICATED,
    ("GET", "/api/v1/auth/sessions"): AUTHENTICATED,
    ("DELETE", "/api/v1/auth/sessions/{session_id:uuid}"): row(USERS, hide=KEYS),
    # users (a user other than the caller)
    ("POST", "/api/v1/users"): USER_ADMIN,
    ("GET", "/api/v1/users"): row(("admin", "security_admin", "key:admin")),
    ("GET", "/api/v1/users/{user_id:uuid}"): row(("admin", "security_admin", "key:admin")),
    ("PATCH", "/api/v1/users/{user_id:uuid}"): USER_ADMIN,
    ("DELETE", "/api/v1/users/{user_id:uuid}"): USER_ADMIN,
    # teams (team alpha: developer and team_lead are members, team_lead leads it)
    ("POST", "/api/v1/teams"): ADMIN_ONLY,
    ("GET", "/api/v1/teams"): AUTHENTICATED,
    ("GET", "/api/v1/teams/{team_id:uuid}"): TEAM_ALPHA_READ,
    ("PATCH", "/api/v1/teams/{team_id:uuid}"): TEAM_ALPHA_LEAD,
    ("DELETE", "/api/v1/teams/{team_id:uuid}"): ADMIN_ONLY,
    ("PUT", "/api/v1/teams/{team_id:uuid}/members"): TEAM_ALPHA_LEAD,
    ("DELETE", "/api/v1/teams/{team_id:uuid}/members/{user_id:uuid}"): TEAM_ALPHA_LEAD,
    # API keys (the target key belongs to developer)
    ("POST", "/api/v1/api-keys"): row((*USERS, "key:admin")),
    ("GET", "/api/v1/api-keys"): row((*USERS, "key:admin")),
    ("GET", "/api/v1/api-keys/{key_id:uuid}"): KEY_OWNER_READ,
    ("POST", "/api/v1/api-keys/{key_id:uuid}/rotate"): KEY_OWNER_ROTATE,
    ("POST", "/api/v1/api-keys/{key_id:uuid}/revoke"): KEY_OWNER_READ,
    ("DELETE", "/api/v1/api-keys/{key_id:uuid}"): KEY_OWNER_READ,
    # policy
    ("POST", "/api/v1/policy/evaluate"): row((*USERS, "key:policy:evaluate", "key:admin")),
    ("GET", "/api/v1/policy/bundle"): AUTHENTICATED,
    ("POST", "/api/v1/policy/reload"): ADMIN_ONLY,
    # catalog (server of team alpha, sensitivity low, owned by the admin)
    ("POST", "/api/v1/servers"): row(("admin", "team_lead", "developer", "key:admin")),
    ("GET", "/api/v1/servers"): CATALOG_READ,
    ("GET", "/api/v1/servers/{server:str}"): CATALOG_READ,
    ("PATCH", "/api/v1/servers/{server:str}"): CATALOG_MANAGE,
    ("DELETE", "/api/v1/servers/{server:str}"): CATALOG_MANAGE,
    ("POST", "/api/v1/servers/{server:str}/discover"): CATALOG_MANAGE,
    ("GET", "/api/v1/tools"): CATALOG_READ,
    ("GET", "/api/v1/tools/{tool_id:uuid}"): CATALOG_READ,
    ("PATCH", "/api/v1/tools/{tool_id:uuid}/sensitivity"): CATALOG_MANAGE,
    ("GET", "/api/v1/tools/{tool_id:uuid}/sensitivity-history"): CATALOG_READ,
    # audit
    ("GET", "/api/v1/audit"): AUDIT_READ,
    ("GET", "/api/v1/audit/export"): AUDIT_READ,
    # admin
    ("GET", "/admin/features"): ADMIN_ONLY,
    ("POST", "/admin/rollout/update"): ADMIN_ONLY,
    ("POST", "/admin/rollout/rollback"): ADMIN_ONLY,
    ("POST", "/admin/cache/cleanup"): ADMIN_ONLY,
    # gateway plugin
    ("POST", "/api/v1/gateway/authorize"): GATEWAY_CALLER,
    ("GET", "/api/v1/gateway/servers"): GATEWAY_CALLER,
    ("GET", "/api/v1/gateway/tools"): GATEWAY_CALLER,
    ("POST", "/api/v1/gateway/audit"): row(
        ("admin", "key:gateway", "key:admin", "gateway-key", "agent"), unauth=("anon",)
    ),
    ("POST", "/api/v1/gateway/sync"): row(ADMINS, unauth=("anon", "gateway-key")),
    ("GET", "/.well-known/authzen-configuration"): PUBLIC,
    ("POST", "/access/v1/evaluation"): PEP,
    ("POST", "/access/v1/evaluations"): PEP,
    ("POST", "/v1/data/{path:path}"): PEP,
    ("POST", "/api/v1/gateway/authorize-a2a"): GATEWAY_CALLER,
    ("POST", "/api/v1/gateway/agents/token"): row(ADMINS, unauth=("anon", "gateway-key")),
}
