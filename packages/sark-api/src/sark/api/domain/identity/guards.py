"""Route guards: by role, and by API-key scope.

Guards are coroutines: Litestar runs a plain-function guard in a worker thread (a thread
hand-off on every request), and none of these does blocking work.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from sark.core.errors import AuthenticationError, PermissionDeniedError
from sark.core.models import Principal, Role

SCOPES = frozenset(
    {"server:read", "server:write", "policy:evaluate", "audit:read", "admin", "gateway"}
)
"""Every scope an API key may be granted."""


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The authenticated principal of ``connection`` (401 when there is none)."""
    user = connection.scope.get("user")
    if not isinstance(user, Principal):
        raise AuthenticationError("authentication required: send a bearer token or API key")
    return user


def require_roles(*roles: Role) -> Guard:
    """A guard letting through principals holding one of ``roles``."""
    allowed = frozenset(roles)
    names = ", ".join(sorted(str(r) for r in allowed))

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = principal_of(connection)
        if principal.role not in allowed:
            msg = f"this needs one of the roles {names}; you are {principal.role}"
            raise PermissionDeniedError(msg)

    return guard


def require_scope(scope: str) -> Guard:
    """A guard requiring ``scope`` of API-key principals (users pass; their role decides)."""
    if scope not in SCOPES:
        msg = f"unknown scope {scope!r}"
        raise ValueError(msg)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = principal_of(connection)
        if not principal.has_scope(scope):
            msg = f"this API key lacks the {scope!r} scope"
            raise PermissionDeniedError(msg)

    return guard


async def require_authenticated(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """A guard requiring any authenticated principal."""
    principal_of(connection)
