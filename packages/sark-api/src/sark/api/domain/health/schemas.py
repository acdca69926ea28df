"""Response bodies of the health area."""

from __future__ import annotations

from typing import Literal

import msgspec


class Health(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /health``: is the process up, which release, which optional features."""

    status: Literal["healthy"]
    version: str
    gateway_enabled: bool
    a2a_enabled: bool


class Liveness(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /health/live``."""

    status: Literal["alive"]


class CheckResult(msgspec.Struct, frozen=True, kw_only=True):
    """The state of one dependency."""

    status: Literal["up", "down"]
    latency_ms: float
    error: str | None = None


class Readiness(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /health/ready``: every configured dependency answered."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, CheckResult]


class VersionFeatures(msgspec.Struct, frozen=True, kw_only=True):
    """Optional capabilities and whether they are on."""

    gateway_integration: bool
    a2a_authorization: bool


class Compatibility(msgspec.Struct, frozen=True, kw_only=True):
    """The releases this one interoperates with (database and API)."""

    min_version: str
    max_version: str


class VersionBody(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /api/v1/version``."""

    version: str
    major: int
    minor: int
    patch: int
    features: VersionFeatures
    compatibility: Compatibility
