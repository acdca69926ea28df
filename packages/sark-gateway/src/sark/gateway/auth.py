"""Who calls the gateway endpoints: users, API keys, agents, or the gateway itself.

Gateway routes are excluded from SARK's authentication middleware so that a disabled
feature answers 503 before anything else; the admission checks below then check the
feature and authenticate in the same way the middleware does (same authenticator, same
limits), adding agent tokens and the gateway's shared key where an endpoint accepts them.

They run as the routes' ``before_request`` hooks, not as Litestar guards: a hook runs at
the same point (before the body is read and dependencies are resolved, its exceptions
answered by the same handlers) without the copy of the route handler Litestar makes for
every guard call, which costs more than the check itself on the decision path
(docs/adr/0006-gateway-admission-as-before-request-hooks.md).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Any, Final

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException

from sark.api.domain.identity.authn import AuthInfo
from sark.core.errors import AuthenticationError, PermissionDeniedError
from sark.core.models import Principal, PrincipalType, Role

if TYPE_CHECKING:
    from sark.gateway.state import GatewayState

CHALLENGE: Final = 'Bearer realm="sark"'
GATEWAY_PRINCIPAL: Final = Principal(
    id="gateway",
    type=PrincipalType.SERVICE,
    role=Role.SERVICE,
    name="MCP gateway (GATEWAY_API_KEY)",
    scopes=frozenset({"gateway"}),
    auth_method="gateway_key",
)
"""The principal of requests made with the shared ``GATEWAY_API_KEY``."""
PEP_KEY_OWNERS: Final = frozenset({Role.ADMIN, Role.SERVICE})
"""Owner roles whose ``gateway`` API keys may act as policy enforcement points."""


class GatewayKey:
    """The shared gateway key, kept only as its SHA-256 and compared in constant time."""

    def __init__(self, key: str | None) -> None:
        """Hash ``key`` (None: no gateway key is accepted)."""
        self._digest = hashlib.sha256(key.encode()).digest() if key else None

    def matches(self, presented: str | None) -> bool:
        """Whether ``presented`` is the gateway key."""
        if self._digest is None or not presented:
            return False
        return hmac.compare_digest(hashlib.sha256(presented.encode()).digest(), self._digest)


def state_of(connection: ASGIConnection[Any, Any, Any, Any]) -> GatewayState:
    """The plugin state of the application serving ``connection``."""
    state: GatewayState = connection.app.state.gateway
    return state


def _credentials(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[str | None, str | None]:
    headers = connection.headers
    return headers.get("authorization"), headers.get("x-api-key")


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, credential = authorization.partition(" ")
    return credential.strip() if scheme.lower() == "bearer" and credential.strip() else None


def _unauthorized(
    connection: ASGIConnection[Any, Any, Any, Any], detail: str
) -> NotAuthorizedException:
    challenge = CHALLENGE
    if "authorization" in connection.headers or "x-api-key" in connection.headers:
        challenge += ', error="invalid_token"'
    return NotAuthorizedException(detail=detail, headers={"WWW-Authenticate": challenge})


async def authenticate(
    connection: ASGIConnection[Any, Any, Any, Any], *, gateway_key: bool = False
) -> Principal:
    """Authenticate ``connection`` (JWT, API key, agent token, optionally the gateway key)."""
    state = state_of(connection)
    authorization, api_key = _credentials(connection)
    bearer = _bearer(authorization)
    if gateway_key and state.gateway_key.matches(api_key or bearer):
        connection.scope["user"] = GATEWAY_PRINCIPAL
        connection.scope["auth"] = AuthInfo("gateway_key")
        return GATEWAY_PRINCIPAL
    identity = connection.app.state.identity
    client_ip = connection.client.host if connection.client else None
    try:
        if api_key is None and bearer is not None and state.agents.known(bearer):
            principal, info = await _agent(identity, state, bearer)
        else:
            try:
                principal, info = await identity.authenticator.authenticate(
                    authorization, api_key, client_ip
                )
            except AuthenticationError:
                # Not a SARK credential: perhaps an agent token (its audience differs).
                if api_key is not None or bearer is None or not state.agents.is_agent_token(bearer):
                    raise
                principal, info = await _agent(identity, state, bearer)
            else:
                limits = identity.settings.auth.rate_limit
                if info.method == "api_key":
                    await identity.limiter.hit(
                        f"key:{info.key_id}", info.rate_limit or limits.api_key_per_minute
                    )
                else:
                    await identity.limiter.hit(f"user:{principal.id}", limits.user_per_minute)
    except AuthenticationError as exc:
        raise _unauthorized(connection, exc.detail) from None
    connection.scope["user"] = principal
    connection.scope["auth"] = info
    return principal


async def _agent(identity: Any, state: GatewayState, token: str) -> tuple[Principal, AuthInfo]:
    principal = state.agents.verify(token)
    limit = identity.settings.auth.rate_limit.api_key_per_minute
    await identity.limiter.hit(f"agent:{principal.id}", limit)
    return principal, AuthInfo("agent_token")


def _require_gateway_scope(principal: Principal) -> None:
    if not principal.has_scope("gateway"):
        raise PermissionDeniedError("this API key lacks the 'gateway' scope")


# ---------------------------------------------------------------------------- admission


async def gateway_caller(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Gateway on, then any authenticated caller (API keys need the ``gateway`` scope)."""
    state_of(connection).require_gateway()
    _require_gateway_scope(await authenticate(connection))


async def a2a_caller(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Gateway and A2A on, then an authenticated caller with the ``gateway`` scope."""
    state_of(connection).require_a2a()
    _require_gateway_scope(await authenticate(connection))


async def audit_writer(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Gateway on, then the gateway key or a caller with the ``gateway`` scope."""
    state_of(connection).require_gateway()
    _require_gateway_scope(await authenticate(connection, gateway_key=True))


async def pep_caller(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Gateway on, then a policy enforcement point: a ``gateway`` API key or an admin."""
    state_of(connection).require_gateway()
    principal = await authenticate(connection, gateway_key=True)
    if principal.auth_method == "gateway_key":
        return
    # A PEP asks about any subject; a scope only narrows its owner's rights, so the key
    # must belong to an admin or a service account, and an agent is never a PEP.
    if principal.auth_method == "api_key":
        if principal.has_scope("gateway") and principal.role in PEP_KEY_OWNERS:
            return
    elif principal.auth_method != "agent_token" and principal.role is Role.ADMIN:
        return
    raise PermissionDeniedError(
        "decision APIs are for policy enforcement points: use an API key with the "
        "'gateway' scope owned by an admin or service account (or an admin account)"
    )


async def admin_caller(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Gateway on, then an admin (users with role admin, API keys with the admin scope)."""
    state_of(connection).require_gateway()
    principal = await authenticate(connection)
    if principal.role is not Role.ADMIN or not principal.has_scope("admin"):
        raise PermissionDeniedError("this needs the admin role")


async def public_gateway(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Gateway on; no credentials needed (discovery documents)."""
    state_of(connection).require_gateway()
