"""Login, refresh-token rotation with reuse detection, logout and the caller's sessions."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sark.api.domain.identity.authn import AuthInfo
from sark.api.domain.identity.context import Identity
from sark.api.domain.identity.models import AuthSession, RefreshToken, User
from sark.api.domain.identity.schemas import SessionInfo, TokenPair
from sark.api.domain.identity.services import UserService
from sark.core.errors import AuthenticationError, NotFoundError, ValidationError
from sark.core.models import Principal, PrincipalType, Role

BAD_CREDENTIALS = "invalid username or password"


def token_hash(token: str) -> str:
    """SHA-256 of a refresh token (they carry 256 random bits: no salt or stretching needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


async def revoke_user_sessions(
    db: AsyncSession, identity: Identity, user_id: UUID, reason: str
) -> int:
    """End every open session of ``user_id``; how many were open."""
    ids = [
        row[0]
        for row in await db.execute(
            select(AuthSession.id).where(
                AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
            )
        )
    ]
    if ids:
        await db.execute(
            update(AuthSession)
            .where(AuthSession.id.in_(ids))
            .values(revoked_at=_now(), revoked_reason=reason)
        )
    await identity.revoke_sessions([str(i) for i in ids])
    return len(ids)


class AuthFlows:
    """The token endpoints' logic, on one database session."""

    def __init__(self, identity: Identity, db: AsyncSession) -> None:
        self.identity = identity
        self.db = db
        self.users = UserService(session=db)

    # ------------------------------------------------------------------ login

    async def login(
        self, username: str, password: str, ip: str, user_agent: str | None
    ) -> TokenPair:
        """Check a password (local or LDAP) and open a session."""
        identity = self.identity
        await self._check_lock(username, ip)
        user = await self.users.by_username(username)
        if identity.ldap is not None and (user is None or user.auth_provider == "ldap"):
            user = await self._ldap_login(username, password, user)
            valid = user is not None
        else:
            stored = (
                user.password_hash if user is not None and user.auth_provider == "local" else None
            )
            valid = await identity.passwords.verify(stored, password) and user is not None
        if not valid or user is None:
            await self._failed(username, ip)
            raise AuthenticationError(BAD_CREDENTIALS)
        if not user.is_active:
            identity.audit(
                "auth.login",
                resource=f"user:{user.id}",
                allow=False,
                reason="deactivated",
                client_ip=ip,
                details={"username": username},
            )
            raise AuthenticationError("this account is deactivated")
        await identity.throttle.succeeded(ip, username)
        if user.password_hash and identity.passwords.needs_rehash(user.password_hash):
            user.password_hash = await identity.passwords.hash(password)
        user.last_login_at = _now()
        pair = await self._open_session(user, ip, user_agent)
        identity.audit(
            "auth.login",
            principal=Principal(
                id=str(user.id), type=PrincipalType.USER, role=Role(user.role), name=user.username
            ),
            resource=f"user:{user.id}",
            client_ip=ip,
            details={"username": username, "provider": user.auth_provider},
        )
        return pair

    async def _check_lock(self, username: str, ip: str) -> None:
        try:
            await self.identity.throttle.check(ip, username)
        except Exception:
            self.identity.audit(
                "auth.login",
                allow=False,
                reason="locked_out",
                client_ip=ip,
                details={"username": username},
            )
            raise

    async def _failed(self, username: str, ip: str) -> None:
        identity = self.identity
        identity.audit(
            "auth.login",
            allow=False,
            reason="bad_credentials",
            client_ip=ip,
            details={"username": username},
        )
        locked = await identity.throttle.failed(ip, username)
        if locked is not None:
            identity.audit(
                "auth.lockout",
                allow=False,
                reason="too_many_failures",
                client_ip=ip,
                details={"username": username, "seconds": locked},
            )

    async def _ldap_login(self, username: str, password: str, user: User | None) -> User | None:
        from sark.api.domain.identity.ldap import provision_ldap_user

        found = await self.identity.ldap.authenticate(username, password)
        if found is None:
            return None
        return await provision_ldap_user(self.users, found, user)

    async def _open_session(self, user: User, ip: str | None, user_agent: str | None) -> TokenPair:
        ttl = timedelta(seconds=self.identity.settings.auth.jwt.refresh_ttl_seconds)
        session = AuthSession(
            user_id=user.id,
            expires_at=_now() + ttl,
            last_used_at=_now(),
            client_ip=ip,
            user_agent=(user_agent or "")[:300] or None,
        )
        self.db.add(session)
        await self.db.flush()
        return await self._issue(user, session)

    async def _issue(self, user: User, session: AuthSession) -> TokenPair:
        refresh = secrets.token_urlsafe(32)
        self.db.add(
            RefreshToken(
                session_id=session.id, token_hash=token_hash(refresh), expires_at=session.expires_at
            )
        )
        await self.db.flush()
        claims = {
            "sub": str(user.id),
            "role": user.role,
            "teams": await self.users.team_names(user.id),
            "name": user.username,
            "sid": str(session.id),
        }
        access = self.identity.codec.issue(claims)
        return TokenPair(
            access_token=access.token,
            refresh_token=refresh,
            expires_in=self.identity.codec.ttl_seconds,
        )

    # ------------------------------------------------------------------ refresh

    async def refresh(self, token: str, ip: str | None) -> TokenPair:
        """Exchange a refresh token for new tokens; a reused token ends its whole session."""
        identity = self.identity
        row = (
            await self.db.execute(
                select(RefreshToken).where(RefreshToken.token_hash == token_hash(token))
            )
        ).scalar_one_or_none()
        if row is None:
            raise AuthenticationError("the refresh token is invalid")
        session = await self.db.get(AuthSession, row.session_id)
        if session is None or session.revoked_at is not None:
            raise AuthenticationError("the session of this refresh token has ended; log in again")
        now = _now()
        claimed = await self.db.execute(
            update(RefreshToken)
            .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
            .values(used_at=now)
        )
        if not getattr(claimed, "rowcount", 0):
            await self._reuse_detected(session, ip)
        if row.expires_at <= now or session.expires_at <= now:
            raise AuthenticationError("the refresh token has expired; log in again")
        user = await self.db.get(User, session.user_id)
        if user is None or not user.is_active:
            await revoke_user_sessions(self.db, identity, session.user_id, "deactivated")
            await self.db.commit()
            raise AuthenticationError("this account is deactivated")
        ttl = timedelta(seconds=identity.settings.auth.jwt.refresh_ttl_seconds)
        session.last_used_at = now
        session.expires_at = now + ttl
        pair = await self._issue(user, session)
        identity.audit(
            "auth.refresh",
            resource=f"session:{session.id}",
            client_ip=ip,
            details={"user_id": str(user.id)},
        )
        return pair

    async def _reuse_detected(self, session: AuthSession, ip: str | None) -> None:
        session.revoked_at = _now()
        session.revoked_reason = "refresh_reuse"
        # Commit now: the error response below would otherwise roll the revocation back.
        await self.db.commit()
        await self.identity.revoke_sessions([str(session.id)])
        self.identity.audit(
            "auth.refresh_reuse",
            resource=f"session:{session.id}",
            allow=False,
            reason="refresh_token_reused",
            client_ip=ip,
            details={"user_id": str(session.user_id)},
        )
        msg = (
            "this refresh token was already used: every token of its session has been "
            "revoked; log in again"
        )
        raise AuthenticationError(msg)

    # ------------------------------------------------------------------ logout and sessions

    async def logout(self, principal: Principal, info: AuthInfo, refresh_token: str | None) -> None:
        """End the session of ``refresh_token``, or else the caller's current session."""
        if refresh_token is not None:
            row = (
                await self.db.execute(
                    select(RefreshToken).where(RefreshToken.token_hash == token_hash(refresh_token))
                )
            ).scalar_one_or_none()
            session = await self.db.get(AuthSession, row.session_id) if row else None
            if session is None or str(session.user_id) != principal.id:
                raise NotFoundError("no such session")
        elif info.session_id is not None:
            session = await self.db.get(AuthSession, UUID(info.session_id))
            if session is None:
                raise NotFoundError("no such session")
        else:
            msg = "this credential has no session to end (API keys are revoked instead)"
            raise ValidationError(msg)
        await self._end(session, principal, "logout")

    async def _end(self, session: AuthSession, principal: Principal, reason: str) -> None:
        if session.revoked_at is None:
            session.revoked_at = _now()
            session.revoked_reason = reason
            await self.db.flush()
        await self.identity.revoke_sessions([str(session.id)])
        self.identity.audit("auth.logout", principal=principal, resource=f"session:{session.id}")

    async def logout_all(self, principal: Principal) -> int:
        """End every session of the caller."""
        user_id = self._user_id(principal)
        count = await revoke_user_sessions(self.db, self.identity, user_id, "logout_all")
        self.identity.audit(
            "auth.logout_all",
            principal=principal,
            resource=f"user:{user_id}",
            details={"sessions": count},
        )
        return count

    async def list_sessions(self, principal: Principal, info: AuthInfo) -> list[SessionInfo]:
        """The caller's open sessions, newest first."""
        rows = await self.db.execute(
            select(AuthSession)
            .where(
                AuthSession.user_id == self._user_id(principal),
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > _now(),
            )
            .order_by(AuthSession.id.desc())
        )
        return [
            SessionInfo(
                id=s.id,
                created_at=s.created_at,
                last_used_at=s.last_used_at,
                expires_at=s.expires_at,
                client_ip=s.client_ip,
                user_agent=s.user_agent,
                current=str(s.id) == info.session_id,
            )
            for s in rows.scalars()
        ]

    async def revoke_session(self, principal: Principal, session_id: UUID) -> None:
        """End one of the caller's sessions."""
        session = await self.db.get(AuthSession, session_id)
        if session is None or str(session.user_id) != principal.id:
            raise NotFoundError("no such session")
        await self._end(session, principal, "revoked")

    @staticmethod
    def _user_id(principal: Principal) -> UUID:
        if principal.auth_method == "api_key":
            raise ValidationError("API keys have no sessions; use a user's token")
        try:
            return UUID(principal.id)
        except ValueError:
            raise ValidationError("this principal has no sessions") from None
