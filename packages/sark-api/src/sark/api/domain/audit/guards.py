"""Who may read the audit trail."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from sark.api.domain.identity.guards import principal_of
from sark.core.errors import PermissionDeniedError
from sark.core.models import Role

READERS = frozenset({Role.ADMIN, Role.SECURITY_ADMIN})
KEY_OWNERS = READERS | {Role.SERVICE}
"""Owner roles whose API keys may read the audit trail (automation accounts included)."""
SCOPE = "audit:read"


async def can_read_audit(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Users need the admin or security_admin role; API keys need ``audit:read`` too.

    A key is judged by its owner's role as well as its scope: a scope only narrows what
    the owner may do, so a viewer's key never reads the trail whatever it was granted.
    """
    principal = principal_of(connection)
    if principal.scopes is not None:
        if not principal.has_scope(SCOPE):
            msg = f"this API key lacks the {SCOPE!r} scope"
            raise PermissionDeniedError(msg)
        if principal.role in KEY_OWNERS:
            return
        msg = (
            "an API key reads the audit trail only when its owner is an admin, "
            f"security_admin or service account; the owner is {principal.role}"
        )
        raise PermissionDeniedError(msg)
    if principal.role not in READERS:
        msg = (
            "reading the audit trail needs the admin or security_admin role; "
            f"you are {principal.role}"
        )
        raise PermissionDeniedError(msg)
