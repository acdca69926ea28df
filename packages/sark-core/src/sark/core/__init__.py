"""SARK core: settings, feature flags, domain models and errors (no I/O framework)."""

from __future__ import annotations

from sark.core.errors import (
    AuthenticationError,
    ConfigError,
    ConflictError,
    DependencyUnavailableError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    SarkError,
    SchemaOutOfDateError,
    ValidationError,
)
from sark.core.flags import (
    CacheRolloutFlag,
    FeatureFlags,
    RolloutFlag,
    ToggleFlag,
    bucket,
)
from sark.core.models import AuditEvent, Decision, Principal, PrincipalType, Role, Sensitivity
from sark.core.options import OPTIONS, Option, Secret
from sark.core.settings import Settings
from sark.core.version import VERSION, VersionInfo, __version__

__all__ = [
    "OPTIONS",
    "VERSION",
    "AuditEvent",
    "AuthenticationError",
    "CacheRolloutFlag",
    "ConfigError",
    "ConflictError",
    "Decision",
    "DependencyUnavailableError",
    "FeatureFlags",
    "NotFoundError",
    "Option",
    "PermissionDeniedError",
    "Principal",
    "PrincipalType",
    "RateLimitedError",
    "Role",
    "RolloutFlag",
    "SarkError",
    "SchemaOutOfDateError",
    "Secret",
    "Sensitivity",
    "Settings",
    "ToggleFlag",
    "ValidationError",
    "VersionInfo",
    "__version__",
    "bucket",
]
