"""Agent tokens: JWTs naming an agent, its trust, capabilities, environment and delegation.

They are signed with SARK's own key but carry the audience ``<SARK_JWT_AUDIENCE>:agent``,
so SARK's ordinary authentication refuses them (an agent token is never a user token) and
only the gateway endpoints accept them. The principal of an agent token is
``Principal(type=agent, acting_for=<originating user>)``.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Final, Literal

import msgspec

from sark.api.security.tokens import JwtCodec, TokenError
from sark.core.errors import AuthenticationError
from sark.core.models import Principal, PrincipalType, Role

TOKEN_USE: Final = "agent"  # noqa: S105
TrustLevel = Literal["trusted", "verified", "untrusted"]
Capability = Literal["execute", "query", "delegate"]
AgentId = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")]


class AgentClaims(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What an agent token asserts about its agent (set by the admin who issues it)."""

    agent_id: AgentId
    agent_type: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "agent"
    trust_level: TrustLevel = "untrusted"
    capabilities: Annotated[list[Capability], msgspec.Meta(max_length=3)] = msgspec.field(
        default_factory=list
    )
    environment: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "development"
    role: Role = Role.SERVICE
    """Role the agent is judged by in ``mcp.gateway`` (bounded further by its trust level)."""
    teams: Annotated[list[str], msgspec.Meta(max_length=64)] = msgspec.field(default_factory=list)
    acting_for: Annotated[str, msgspec.Meta(min_length=1, max_length=255)] | None = None
    """Id of the user the agent ultimately acts for (the originating user)."""
    delegation_chain: Annotated[list[AgentId], msgspec.Meta(max_length=32)] = msgspec.field(
        default_factory=list
    )
    """Agents the call went through before this one, first (closest to the user) first."""


def agent_principal(claims: AgentClaims) -> Principal:
    """The principal the policy sees for an agent token."""
    return Principal(
        id=f"agent:{claims.agent_id}",
        type=PrincipalType.AGENT,
        role=claims.role,
        teams=tuple(claims.teams),
        name=claims.agent_id,
        attributes={
            "agent_id": claims.agent_id,
            "agent_type": claims.agent_type,
            "trust_level": claims.trust_level,
            "capabilities": list(claims.capabilities),
            "environment": claims.environment,
            "delegation_chain": list(claims.delegation_chain),
        },
        acting_for=claims.acting_for,
        scopes=frozenset({"gateway"}),
        auth_method="agent_token",
    )


class AgentTokens:
    """Issues and verifies agent tokens; verified tokens are cached until they expire."""

    def __init__(self, codec: JwtCodec, ttl_seconds: int, cache_size: int = 10_000) -> None:
        """Sign with ``codec``'s key under the agent audience."""
        self.audience = f"{codec.audience}:{TOKEN_USE}"
        self._codec = JwtCodec(codec.key, codec.issuer, self.audience, ttl_seconds)
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._cache_size = cache_size

    def issue(self, claims: AgentClaims) -> tuple[str, float]:
        """A signed token for ``claims`` and its expiry (Unix seconds)."""
        payload: dict[str, Any] = msgspec.to_builtins(claims)
        payload["sub"] = f"agent:{claims.agent_id}"
        payload["token_use"] = TOKEN_USE
        issued = self._codec.issue(payload)
        return issued.token, issued.expires_at

    def verify(self, token: str) -> Principal:
        """The agent principal of ``token``; :class:`AuthenticationError` saying why not."""
        cached = self._cache.get(token)
        now = time.time()
        if cached is not None:
            if cached[1] > now:
                return cached[0]
            del self._cache[token]
        try:
            raw = self._codec.decode(token)
        except TokenError as exc:
            raise AuthenticationError(f"invalid agent token: {exc}") from None
        if raw.get("token_use") != TOKEN_USE:
            raise AuthenticationError("invalid agent token: not an agent token")
        fields = {k: raw[k] for k in AgentClaims.__struct_fields__ if k in raw}
        try:
            claims = msgspec.convert(fields, AgentClaims)
        except msgspec.ValidationError as exc:
            raise AuthenticationError(f"invalid agent token: {exc}") from None
        principal = agent_principal(claims)
        if len(self._cache) >= self._cache_size:
            self._cache.pop(next(iter(self._cache)))
        self._cache[token] = (principal, float(raw["exp"]))
        return principal

    def known(self, token: str) -> bool:
        """Whether ``token`` was verified before (a dict lookup: the hot path)."""
        return token in self._cache

    def is_agent_token(self, token: str) -> bool:
        """Cheap pre-check: the token's unverified audience is the agent audience."""
        if token in self._cache:
            return True
        try:
            import jwt

            claims = jwt.decode(token, options={"verify_signature": False})
        except Exception:
            return False
        aud = claims.get("aud")
        return aud == self.audience or (isinstance(aud, list) and self.audience in aud)
