"""Request and response bodies of the admin API (``/admin``)."""

from __future__ import annotations

import datetime
from typing import Any

import msgspec


class RolloutUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /admin/rollout/update``: what to change on one feature (at least one field)."""

    feature: str
    percentage: int | None = None
    """0-100; a positive value also turns a rollout feature on unless ``enabled`` says no."""
    enabled: bool | None = None
    fallback_on_error: bool | None = None
    shadow: bool | None = None


class RolloutRollback(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /admin/rollout/rollback``: the feature to take out of service."""

    feature: str


class RolloutResult(msgspec.Struct, frozen=True, kw_only=True):
    """A flag change: the state before and after."""

    feature: str
    previous: dict[str, Any]
    new: dict[str, Any]


class FeatureStatus(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One feature as ``GET /admin/features`` shows it."""

    enabled: bool
    status: str
    """``active`` (in use), ``inactive`` (off or at 0 %) or ``unavailable`` (not installed)."""
    source: str
    """``settings`` (defaults < config.yaml < environment) or ``runtime`` (admin API, CLI)."""
    version: int
    """Runtime change count (0: never changed at runtime)."""
    updated_at: datetime.datetime | None = None
    updated_by: str | None = None
    rollout_percentage: int | None = None
    fallback_on_error: bool | None = None
    shadow: bool | None = None
    max_size: int | None = None
    ttl_seconds: int | None = None
    assignments: dict[str, int] | None = None
    """Decisions this process routed per implementation (``feature_flag_assignments_total``)."""
    served: dict[str, int] | None = None
    """Operations this process ran per implementation (evaluations, or cache reads)."""
