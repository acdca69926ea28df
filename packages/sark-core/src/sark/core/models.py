"""Domain models shared by every package: who is calling and what SARK decided."""

from __future__ import annotations

import enum
from typing import Any

import msgspec


class Role(enum.StrEnum):
    """Roles of principals, from most to least privileged."""

    ADMIN = "admin"
    SECURITY_ADMIN = "security_admin"
    TEAM_LEAD = "team_lead"
    DEVELOPER = "developer"
    VIEWER = "viewer"
    SERVICE = "service"


class PrincipalType(enum.StrEnum):
    """What kind of caller a principal is."""

    USER = "user"
    SERVICE = "service"
    AGENT = "agent"


class Sensitivity(enum.StrEnum):
    """Sensitivity of a server or tool; decides who may call it and for how long to cache."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """An authenticated caller, as the policy sees it (``input.subject``)."""

    id: str
    type: PrincipalType
    role: Role
    teams: tuple[str, ...] = ()
    name: str = ""
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)
    acting_for: str | None = None
    scopes: frozenset[str] | None = None
    """API-key scopes; None means the role alone decides (interactive users)."""
    auth_method: str = "jwt"

    @property
    def is_admin(self) -> bool:
        """Whether the principal holds the ``admin`` role."""
        return self.role is Role.ADMIN

    def has_scope(self, scope: str) -> bool:
        """Whether an API-key principal was granted ``scope`` (always true for users)."""
        return self.scopes is None or scope in self.scopes or "admin" in self.scopes


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """The answer of the decision service to one authorization question."""

    decision_id: str
    allow: bool
    reason: str
    filtered_parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    obligations: tuple[dict[str, Any], ...] = ()
    cache_ttl: int = 0
    policy_revision: str = ""
    engine: str = ""


class AuditFields(msgspec.Struct, frozen=True, kw_only=True):
    """What every audit entry records besides its details.

    :class:`AuditEvent` adds the details as a dict; the audit writer's stored form adds
    them as JSON text, with the entry's id and sequence number.
    """

    kind: str
    """``decision``, ``identity``, ``catalog``, ``policy``, ``admin`` ..."""
    action: str
    """What was attempted: ``tool:invoke``, ``user.create``, ``auth.login`` ..."""
    occurred_at: float
    """Unix time (seconds) when it happened."""
    principal_id: str | None = None
    principal_type: str | None = None
    principal_role: str | None = None
    resource: str | None = None
    allow: bool | None = None
    reason: str = ""
    decision_id: str | None = None
    engine: str | None = None
    policy_revision: str | None = None
    request_id: str | None = None
    client_ip: str | None = None
    latency_ms: float | None = None


class AuditEvent(AuditFields, frozen=True, kw_only=True):
    """One entry of the audit trail: a decision or an administrative/identity change."""

    details: dict[str, Any] = msgspec.field(default_factory=dict)
