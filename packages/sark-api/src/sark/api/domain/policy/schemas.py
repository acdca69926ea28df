"""Request and response bodies of the policy endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec

from sark.core.models import PrincipalType, Role

ACTION_PATTERN = r"^[a-z][a-z0-9_-]*(:[a-z][a-z0-9_-]*)+$"
Action = Annotated[
    str,
    msgspec.Meta(
        pattern=ACTION_PATTERN,
        max_length=128,
        description="Namespaced action such as `tool:invoke` or `server:register`.",
        examples=["tool:invoke"],
    ),
]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class SubjectOverride(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Another subject to decide for (admins only)."""

    id: Name
    role: Role
    teams: list[Name] = msgspec.field(default_factory=list)
    type: PrincipalType = PrincipalType.USER


class EvaluateRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An authorization question."""

    action: Action
    server: Name | None = None
    tool: Name | None = None
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    context: dict[str, Any] = msgspec.field(default_factory=dict)
    subject: SubjectOverride | None = None


class EvaluateResponse(msgspec.Struct, frozen=True, kw_only=True):
    """The decision (200 for allow and deny alike)."""

    decision_id: str
    allow: bool
    reason: str
    filtered_parameters: dict[str, Any]
    obligations: list[dict[str, Any]]
    cache_ttl: int
    policy_revision: str
    engine: str


class EngineStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One configured engine."""

    name: str
    healthy: bool
    revision: str | None
    detail: str
    url: str | None = None
    """Where the engine is (OPA), None in process."""


class BundleInfo(msgspec.Struct, frozen=True, kw_only=True):
    """The policy bundle serving now."""

    revision: str
    packages: list[str]
    loaded_at: dt.datetime | None
    path: str
    engines: list[EngineStatus]
