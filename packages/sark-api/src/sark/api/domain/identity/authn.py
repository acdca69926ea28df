"""Authenticating one request: bearer JWT or API key to a :class:`Principal`, cached.

This is the hot path of every request. A token or key seen before is answered from
in-process caches (a dict lookup, an expiry check, a revocation set lookup, and for keys one
HMAC); only the first sight of a credential verifies a signature or reads the database.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from sark.api.domain.identity.models import ApiKey, Team, TeamMember, User
from sark.api.domain.identity.revocation import Revocations
from sark.api.security.apikeys import ApiKeyHasher, parse_api_key
from sark.api.security.tokens import JwtCodec, TokenError
from sark.core.errors import AuthenticationError
from sark.core.models import Principal, PrincipalType, Role

KEY_CACHE_SECONDS: Final = 60.0
"""Longest time a key's owner role or scopes may be served stale from the cache."""
TOUCH_EVERY_SECONDS: Final = 60.0
"""Last-used time and address of a key are written at most this often."""

ExternalVerifier = Callable[[str], Awaitable[Principal]]


@dataclass(slots=True)
class AuthInfo:
    """How the request was authenticated (``request.auth``)."""

    method: str
    """``jwt``, ``api_key`` or ``oidc``."""
    session_id: str | None = None
    key_id: str | None = None
    expires_at: float | None = None
    rate_limit: int | None = None
    """Requests per minute of this credential; None uses the default for its kind."""


@dataclass(slots=True)
class _Token:
    principal: Principal
    info: AuthInfo
    expires_at: float


@dataclass(slots=True)
class _Key:
    digest: bytes
    principal: Principal | None
    """None when the owner is deactivated (the key is refused)."""
    owner_id: str | None
    expires_at: float | None
    revoked: bool
    fetched_at: float
    info: AuthInfo
    touched_at: float = 0.0


@dataclass(slots=True)
class KeyTouch:
    """A last-used update waiting to be written."""

    at: datetime
    ip: str | None


@dataclass
class Authenticator:
    """Turns request credentials into principals; shared by every request of one app."""

    codec: JwtCodec
    hasher: ApiKeyHasher
    engine: AsyncEngine
    revocations: Revocations
    cache_size: int = 10_000
    external: ExternalVerifier | None = None
    """Verifier of tokens from an external issuer (OIDC), tried when ``is_external``."""
    is_external: Callable[[str], bool] | None = None
    touches: dict[str, KeyTouch] = field(default_factory=dict)
    _tokens: dict[str, _Token] = field(default_factory=dict)
    _keys: dict[str, _Key] = field(default_factory=dict)

    async def authenticate(
        self, authorization: str | None, api_key: str | None, client_ip: str | None = None
    ) -> tuple[Principal, AuthInfo]:
        """The principal presenting these headers; :class:`AuthenticationError` if none."""
        if api_key is not None:
            return await self.authenticate_key(api_key.strip(), client_ip)
        if not authorization:
            raise AuthenticationError("authentication required: send a bearer token or API key")
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise AuthenticationError("the Authorization header must be `Bearer <token>`")
        if credential.startswith("sark_"):
            return await self.authenticate_key(credential, client_ip)
        return await self.authenticate_token(credential)

    # ------------------------------------------------------------------ JWT

    async def authenticate_token(self, token: str) -> tuple[Principal, AuthInfo]:
        """Verify an access token (cached after the first verification)."""
        entry = self._tokens.get(token)
        if entry is None:
            entry = await self._verify_token(token)
            self._remember(self._tokens, token, entry)
        if entry.expires_at <= time.time():
            self._tokens.pop(token, None)
            raise AuthenticationError("the token has expired")
        sid = entry.info.session_id
        if sid is not None and sid in self.revocations.sessions:
            raise AuthenticationError("the session of this token was logged out")
        return entry.principal, entry.info

    async def _verify_token(self, token: str) -> _Token:
        if self.external is not None and self.is_external is not None and self.is_external(token):
            principal = await self.external(token)
            expires = float(principal.attributes.get("exp", time.time() + 60))
            return _Token(principal, AuthInfo("oidc", expires_at=expires), expires)
        try:
            claims = self.codec.decode(token)
        except TokenError as exc:
            raise AuthenticationError(str(exc)) from None
        return _Token(
            principal_from_claims(claims),
            AuthInfo("jwt", session_id=claims.get("sid"), expires_at=float(claims["exp"])),
            float(claims["exp"]),
        )

    # ------------------------------------------------------------------ API keys

    async def authenticate_key(
        self, value: str, client_ip: str | None
    ) -> tuple[Principal, AuthInfo]:
        """Verify an API key (its record cached for :data:`KEY_CACHE_SECONDS`)."""
        parsed = parse_api_key(value)
        if parsed is None:
            raise AuthenticationError("the API key is malformed (expected sark_<id>_<secret>)")
        key_id, secret = parsed
        now = time.monotonic()
        entry = self._keys.get(key_id)
        if (
            entry is None
            or now - entry.fetched_at > KEY_CACHE_SECONDS
            or (entry.owner_id is not None and entry.owner_id in self.revocations.users)
        ):
            entry = await self._load_key(key_id, now)
        # The secret is checked first: only its holder learns whether a key is revoked.
        if entry is None or not self.hasher.matches(secret, entry.digest):
            raise AuthenticationError("invalid API key")
        if entry.revoked or key_id in self.revocations.keys:
            raise AuthenticationError("the API key has been revoked")
        if entry.expires_at is not None and entry.expires_at <= time.time():
            raise AuthenticationError("the API key has expired")
        if entry.principal is None:
            raise AuthenticationError("the owner of this API key is deactivated")
        if now - entry.touched_at >= TOUCH_EVERY_SECONDS:
            entry.touched_at = now
            self.touches[key_id] = KeyTouch(datetime.now(UTC), client_ip)
        return entry.principal, entry.info

    async def _load_key(self, key_id: str, now: float) -> _Key | None:
        async with AsyncSession(self.engine) as db:
            row = (
                await db.execute(
                    select(ApiKey, User)
                    .outerjoin(User, User.id == ApiKey.owner_id)
                    .where(ApiKey.key_id == key_id)
                )
            ).first()
            if row is None:
                self._keys.pop(key_id, None)
                return None
            key, owner = row[0], row[1]
            team_names = await self._key_teams(db, key, owner)
        entry = _Key(
            digest=bytes.fromhex(key.secret_hash),
            principal=key_principal(key, owner, team_names),
            owner_id=str(owner.id) if owner is not None else None,
            expires_at=key.expires_at.timestamp() if key.expires_at else None,
            revoked=key.revoked_at is not None,
            fetched_at=now,
            info=AuthInfo("api_key", key_id=key_id, rate_limit=key.rate_limit_per_minute),
        )
        if entry.owner_id is not None:
            self.revocations.users.discard(entry.owner_id)
        self._remember(self._keys, key_id, entry)
        return entry

    @staticmethod
    async def _key_teams(db: AsyncSession, key: ApiKey, owner: User | None) -> tuple[str, ...]:
        if key.team_id is not None:
            query = select(Team.name).where(Team.id == key.team_id)
        elif owner is not None:
            query = (
                select(Team.name)
                .join(TeamMember, TeamMember.team_id == Team.id)
                .where(TeamMember.user_id == owner.id)
            )
        else:
            return ()
        return tuple(sorted(str(r[0]) for r in await db.execute(query)))

    # ------------------------------------------------------------------ cache upkeep

    def _remember(self, cache: dict[str, Any], key: str, value: Any) -> None:
        if self.cache_size <= 0:
            return
        if len(cache) >= self.cache_size:
            # Drop the oldest insertion (dicts keep insertion order): cheap and bounded.
            cache.pop(next(iter(cache)))
        cache[key] = value

    def forget_key(self, key_id: str) -> None:
        """Drop a key from the cache (after rotation or revocation in this process)."""
        self._keys.pop(key_id, None)

    def forget_expired(self) -> None:
        """Drop cached tokens past their expiry (called by the background sync)."""
        now = time.time()
        for token in [t for t, e in self._tokens.items() if e.expires_at <= now]:
            del self._tokens[token]


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """The principal an access token of SARK describes."""
    try:
        role = Role(claims["role"])
    except (KeyError, ValueError):
        raise AuthenticationError("the token carries no valid role") from None
    teams = claims.get("teams") or []
    return Principal(
        id=str(claims["sub"]),
        type=PrincipalType.USER,
        role=role,
        teams=tuple(str(t) for t in teams),
        name=str(claims.get("name", "")),
        auth_method="jwt",
    )


def key_principal(key: ApiKey, owner: User | None, teams: tuple[str, ...]) -> Principal | None:
    """The principal of an API key: type service, the owner's role (or ``service``)."""
    if owner is not None and not owner.is_active:
        return None
    return Principal(
        id=f"apikey:{key.id}",  # the record id: stable across rotations
        type=PrincipalType.SERVICE,
        role=Role(owner.role) if owner is not None else Role.SERVICE,
        teams=teams,
        name=key.name,
        acting_for=str(owner.id) if owner is not None else None,
        scopes=frozenset(key.scopes.split()),
        auth_method="api_key",
    )
