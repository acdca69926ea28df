"""Dependency providers of the identity domain."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State

from sark.api.domain.identity.authn import AuthInfo
from sark.api.domain.identity.context import Identity
from sark.core.errors import AuthenticationError
from sark.core.models import Principal


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    """The authenticated caller (``principal: NamedDependency[Principal]``)."""
    return caller(request)


def caller(request: Request[Any, Any, Any]) -> Principal:
    """The authenticated caller, read from the request by the decision hot paths.

    Handlers on the decision path call this instead of declaring ``principal`` as a
    second dependency: Litestar resolves two or more dependencies of one handler
    concurrently in an anyio task group, which costs more than the decision itself
    (docs/adr/0003-caller-from-request-on-hot-paths.md).
    """
    user = request.scope.get("user")
    if not isinstance(user, Principal):
        raise AuthenticationError("authentication required: send a bearer token or API key")
    return user


def provide_auth_info(request: Request[Any, Any, Any]) -> AuthInfo:
    """How the caller authenticated (session id, key id)."""
    auth = request.scope.get("auth")
    if not isinstance(auth, AuthInfo):
        raise AuthenticationError("authentication required: send a bearer token or API key")
    return auth


def provide_identity(state: State) -> Identity:
    """The application's identity machinery."""
    identity: Identity = state.identity
    return identity
