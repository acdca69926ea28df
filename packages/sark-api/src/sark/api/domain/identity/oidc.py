"""Bearer tokens from an external OpenID Connect issuer: discovery, JWKS, claim mapping.

Signing keys are fetched through the runtime's HTTP client, cached for
``auth.oidc.jwks_cache_seconds``, and refetched when a token names an unknown ``kid`` (at
most once per ``auth.oidc.jwks_min_refresh_seconds``), so an issuer can rotate its keys.
Users are provisioned on first sight (``auth_provider=oidc``, ``external_id=sub``).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any, Final

import httpx
import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from sark.api.domain.identity.models import User
from sark.api.domain.identity.services import UserService
from sark.api.security.tokens import TokenError, decode_verified
from sark.core.errors import AuthenticationError, ConfigError, DependencyUnavailableError
from sark.core.models import Principal, PrincipalType, Role

if TYPE_CHECKING:
    from sark.api.domain.identity.context import Identity

ACCEPTED_ALGORITHMS: Final = ("RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA", "PS256")
ROLE_RANK: Final = {role: rank for rank, role in enumerate(Role)}
"""Lower is more privileged (Role is declared from most to least privileged)."""


def parse_role_map(text: str, setting: str) -> dict[str, Role]:
    """A JSON object of ``value -> role`` from a setting; :class:`ConfigError` if invalid."""
    try:
        raw = json.loads(text or "{}")
        if not isinstance(raw, dict):
            raise TypeError
        return {str(k): Role(str(v)) for k, v in raw.items()}
    except (ValueError, TypeError):
        msg = f"{setting}: expected a JSON object mapping names to SARK roles (got {text!r})"
        raise ConfigError(msg) from None


def strongest(roles: list[Role], default: Role) -> Role:
    """The most privileged of ``roles``, or ``default`` when there is none."""
    return min(roles, key=ROLE_RANK.__getitem__) if roles else default


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return []


class OidcVerifier:
    """Verifies tokens of the configured issuer and maps them to principals."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.config = identity.settings.auth.oidc
        if not self.config.audience:
            raise ConfigError("SARK_OIDC_AUDIENCE is required when SARK_OIDC_ISSUER is set")
        self.issuer = str(self.config.issuer).rstrip("/")
        self.role_map = parse_role_map(self.config.role_map, "SARK_OIDC_ROLE_MAP")
        self.default_role = Role(self.config.default_role)
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._last_refresh = -1e9
        self._lock = asyncio.Lock()
        self._jwt = jwt.PyJWT(options={"require": ["exp", "iat", "iss", "aud", "sub"]})

    def handles(self, token: str) -> bool:
        """Whether ``token`` claims to come from this issuer (checked properly later)."""
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return False
        return str(claims.get("iss", "")).rstrip("/") == self.issuer

    async def authenticate(self, token: str) -> Principal:
        """The principal of a verified token of this issuer (its user provisioned)."""
        claims = await self.verify(token)
        role = self.map_role(claims)
        teams = tuple(sorted(set(_as_list(claims.get(self.config.group_claim)))))
        user = await self._provision(claims, role)
        if not user.is_active:
            raise AuthenticationError("this account is deactivated")
        return Principal(
            id=str(user.id),
            type=PrincipalType.USER,
            role=role,
            teams=teams,
            name=user.username,
            attributes={"exp": claims["exp"], "issuer": self.issuer},
            auth_method="oidc",
        )

    async def verify(self, token: str) -> dict[str, Any]:
        """Signature, ``iss``, ``aud`` and expiry of ``token``; :class:`AuthenticationError`."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise AuthenticationError("the bearer token is not a well-formed JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ACCEPTED_ALGORITHMS:
            msg = f"the token's algorithm {algorithm!r} is not accepted"
            raise AuthenticationError(msg)
        key = await self._key(str(header.get("kid", "")))
        try:
            return decode_verified(
                self._jwt,
                token,
                key,
                algorithm,
                issuer=self.issuer,
                audience=str(self.config.audience),
            )
        except TokenError as exc:
            raise AuthenticationError(str(exc)) from None

    def map_role(self, claims: dict[str, Any]) -> Role:
        """The SARK role of a token: the strongest mapped role or group, else the default."""
        values = _as_list(claims.get(self.config.role_claim)) + _as_list(
            claims.get(self.config.group_claim)
        )
        return strongest(
            [self.role_map[v] for v in values if v in self.role_map], self.default_role
        )

    # ------------------------------------------------------------------ keys

    async def _key(self, kid: str) -> Any:
        expired = time.monotonic() - self._fetched_at > self.config.jwks_cache_seconds
        if kid not in self._keys or expired:
            await self._refresh(force=expired)
        key = self._keys.get(kid)
        if key is None:
            raise AuthenticationError("the token was signed with a key the issuer does not publish")
        return key

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            now = time.monotonic()
            # Unknown kids must not let anyone make us hammer the issuer.
            if not force and now - self._last_refresh < self.config.jwks_min_refresh_seconds:
                return
            self._last_refresh = now
            self._keys = await self._fetch_keys()
            self._fetched_at = time.monotonic()

    async def _fetch_keys(self) -> dict[str, Any]:
        http = self.identity.runtime.http
        try:
            discovery = await http.get(f"{self.issuer}/.well-known/openid-configuration")
            discovery.raise_for_status()
            jwks_uri = discovery.json()["jwks_uri"]
            response = await http.get(jwks_uri)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            msg = f"the OIDC issuer {self.issuer} cannot be reached ({type(exc).__name__})"
            raise DependencyUnavailableError(msg) from None
        keys: dict[str, Any] = {}
        for jwk in document.get("keys", []):
            if jwk.get("use", "sig") != "sig" or "kid" not in jwk:
                continue
            try:
                keys[jwk["kid"]] = jwt.PyJWK(jwk).key
            except jwt.PyJWTError:
                continue
        return keys

    # ------------------------------------------------------------------ users

    async def _provision(self, claims: dict[str, Any], role: Role) -> User:
        subject = str(claims["sub"])
        async with AsyncSession(self.identity.runtime.engine, expire_on_commit=False) as db:
            users = UserService(session=db)
            user = await users.get_one_or_none(
                User.auth_provider == "oidc", User.external_id == subject
            )
            if user is None:
                user = await users.create_user(
                    username=await self._free_username(users, claims),
                    role=role,
                    password_hash=None,
                    email=claims.get("email"),
                    display_name=claims.get("name"),
                    auth_provider="oidc",
                    external_id=subject,
                )
                await db.commit()
                self.identity.audit(
                    "user.create",
                    resource=f"user:{user.id}",
                    details={"provider": "oidc", "subject": subject, "role": str(role)},
                )
            elif user.role != role:
                user.role = str(role)
                await db.commit()
            return user

    @staticmethod
    async def _free_username(users: UserService, claims: dict[str, Any]) -> str:
        for candidate in (claims.get("preferred_username"), claims.get("email")):
            usable = isinstance(candidate, str) and 0 < len(candidate) <= 150
            if usable and await users.by_username(str(candidate)) is None:
                return str(candidate)
        return f"oidc-{claims['sub']}"[:150]
