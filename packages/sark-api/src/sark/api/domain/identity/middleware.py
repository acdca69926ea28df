"""Authentication of every request except public paths; sets ``request.user``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware.authentication import (
    AbstractAuthenticationMiddleware,
    AuthenticationResult,
)

from sark.api.domain.identity.context import Identity
from sark.core.errors import AuthenticationError

PUBLIC_PATHS: Final = (
    "/health",
    "/health/live",
    "/health/ready",
    "/metrics",
    "/version",
    "/api/v1/version",
    "/.well-known/jwks.json",
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
)
"""Paths answered without credentials; ``/schema`` and everything below it too.

A plugin makes its own handlers public with ``opt={"exclude_from_auth": True}``.
"""
EXCLUDE_OPT_KEY: Final = "exclude_from_auth"
CHALLENGE: Final = 'Bearer realm="sark"'


def public_path_patterns(extra: Iterable[str] = ()) -> list[str]:
    """Regular expressions of every public path (exact matches, ``/schema`` subtree)."""
    exact = [*PUBLIC_PATHS, *extra]
    return [f"^{re.escape(p)}$" for p in exact] + [r"^/schema(/.*)?$"]


class AuthenticationMiddleware(AbstractAuthenticationMiddleware):
    """Bearer JWT or API key to :class:`~sark.core.models.Principal`, then request limits."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        """Authenticate ``connection``; 401 (with a challenge) when it cannot be."""
        identity: Identity = connection.app.state.identity
        headers = connection.headers
        client_ip = connection.client.host if connection.client else None
        try:
            principal, info = await identity.authenticator.authenticate(
                headers.get("authorization"), headers.get("x-api-key"), client_ip
            )
        except AuthenticationError as exc:
            challenge = CHALLENGE
            if "authorization" in headers or "x-api-key" in headers:
                challenge += ', error="invalid_token"'
            raise NotAuthorizedException(
                detail=exc.detail, headers={"WWW-Authenticate": challenge}
            ) from None
        limits = identity.settings.auth.rate_limit
        if info.method == "api_key":
            await identity.limiter.hit(
                f"key:{info.key_id}", info.rate_limit or limits.api_key_per_minute
            )
        else:
            await identity.limiter.hit(f"user:{principal.id}", limits.user_per_minute)
        return AuthenticationResult(user=principal, auth=info)
