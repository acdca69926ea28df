"""Who may read the audit trail."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from sark.api.domain.identity.guards import principal_of
from sark.core.errors import PermissionDeniedError
from sark.core.models import Role

READERS = frozenset({Role.ADMIN, Role.SECURITY_ADMIN})
SCOPE = "audit:read"


def can_read_audit(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Users need the admin or security_admin role; API keys need the ``audit:read`` scope."""
    principal = principal_of(connection)
    if principal.scopes is not None:
        if principal.has_scope(SCOPE):
            return
        msg = f"this API key lacks the {SCOPE!r} scope"
        raise PermissionDeniedError(msg)
    if principal.role not in READERS:
        msg = (
            "reading the audit trail needs the admin or security_admin role; "
            f"you are {principal.role}"
        )
        raise PermissionDeniedError(msg)
