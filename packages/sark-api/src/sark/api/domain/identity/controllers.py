"""Login, token refresh, logout, the caller's identity and sessions, the public JWKS."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from sark.api.domain.identity.authn import AuthInfo
from sark.api.domain.identity.context import Identity
from sark.api.domain.identity.schemas import (
    LoginRequest,
    LogoutRequest,
    Me,
    RefreshRequest,
    SessionInfo,
    TokenPair,
)
from sark.api.domain.identity.services import UserService
from sark.api.domain.identity.sessions import AuthFlows
from sark.core.models import Principal


def client_ip(request: Request[Any, Any, Any]) -> str:
    """The peer address of ``request`` (``unknown`` when the server does not say)."""
    return request.client.host if request.client else "unknown"


class AuthController(Controller):
    """Tokens for people: password login, refresh rotation, logout, sessions."""

    path = "/api/v1/auth"
    tags = ("auth",)

    @post("/login", operation_id="login", status_code=HTTP_200_OK, summary="Log in with a password")
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[LoginRequest],
        identity: NamedDependency[Identity],
        db_session: NamedDependency[AsyncSession],
    ) -> TokenPair:
        """Exchange a username and password for an access token and a refresh token."""
        flows = AuthFlows(identity, db_session)
        return await flows.login(
            data.username, data.password, client_ip(request), request.headers.get("user-agent")
        )

    @post(
        "/refresh",
        operation_id="refreshToken",
        status_code=HTTP_200_OK,
        summary="Rotate a refresh token",
    )
    async def refresh(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[RefreshRequest],
        identity: NamedDependency[Identity],
        db_session: NamedDependency[AsyncSession],
    ) -> TokenPair:
        """New tokens for a refresh token, which is spent; reusing it ends its session."""
        return await AuthFlows(identity, db_session).refresh(data.refresh_token, client_ip(request))

    @post(
        "/logout", operation_id="logout", status_code=HTTP_204_NO_CONTENT, summary="End one session"
    )
    async def logout(
        self,
        principal: NamedDependency[Principal],
        auth_info: NamedDependency[AuthInfo],
        identity: NamedDependency[Identity],
        db_session: NamedDependency[AsyncSession],
        data: JSONBody[LogoutRequest | None] = None,
    ) -> None:
        """End the current session (or the one of ``refresh_token``): its tokens stop working."""
        refresh = data.refresh_token if data is not None else None
        await AuthFlows(identity, db_session).logout(principal, auth_info, refresh)

    @post(
        "/logout-all",
        operation_id="logoutAll",
        status_code=HTTP_204_NO_CONTENT,
        summary="End every session of the caller",
    )
    async def logout_all(
        self,
        principal: NamedDependency[Principal],
        identity: NamedDependency[Identity],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        """End every session of the caller, on every device."""
        await AuthFlows(identity, db_session).logout_all(principal)

    @get("/me", operation_id="getMe", summary="The authenticated caller")
    async def me(
        self, principal: NamedDependency[Principal], db_session: NamedDependency[AsyncSession]
    ) -> Me:
        """Who the credential of this request belongs to."""
        user_out = None
        if principal.auth_method != "api_key":
            users = UserService(session=db_session)
            try:
                user = await users.get_one_or_none(id=UUID(principal.id))
            except ValueError:
                user = None
            user_out = await users.to_out(user) if user is not None else None
        return Me(
            id=principal.id,
            type=str(principal.type),
            role=principal.role,
            teams=list(principal.teams),
            name=principal.name,
            auth_method=principal.auth_method,
            scopes=sorted(principal.scopes) if principal.scopes is not None else None,
            user=user_out,
        )

    @get("/sessions", operation_id="listSessions", summary="The caller's open sessions")
    async def sessions(
        self,
        principal: NamedDependency[Principal],
        auth_info: NamedDependency[AuthInfo],
        identity: NamedDependency[Identity],
        db_session: NamedDependency[AsyncSession],
    ) -> list[SessionInfo]:
        """Open sessions of the caller, newest first; ``current`` marks this one."""
        return await AuthFlows(identity, db_session).list_sessions(principal, auth_info)

    @delete(
        "/sessions/{session_id:uuid}",
        operation_id="revokeSession",
        summary="End one of the caller's sessions",
    )
    async def revoke_session(
        self,
        session_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        identity: NamedDependency[Identity],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        """End the session ``session_id`` (it must be the caller's)."""
        await AuthFlows(identity, db_session).revoke_session(principal, session_id)


class JwksController(Controller):
    """Public keys that verify SARK's access tokens."""

    tags = ("auth",)

    @get("/.well-known/jwks.json", operation_id="getJwks", summary="Token signing keys (JWKS)")
    async def jwks(self, identity: NamedDependency[Identity]) -> dict[str, Any]:
        """The JWK set of the public signing keys (empty when tokens are signed with HS256)."""
        return identity.codec.jwks()
