"""The SarkError family: domain errors that know nothing of HTTP.

``sark.api`` maps each class to a problem-details response in one table; other callers
(the CLI, the gateway plugin) catch them by class.
"""

from __future__ import annotations


class SarkError(Exception):
    """Root of every error SARK raises on purpose; ``detail`` is safe to show a user."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ConfigError(SarkError):
    """The configuration (environment or config.yaml) is invalid."""


class ValidationError(SarkError):
    """Input is well-formed but not acceptable."""


class NotFoundError(SarkError):
    """The named object does not exist (or is not visible to the caller)."""


class ConflictError(SarkError):
    """The change conflicts with the current state (duplicate name, stale version)."""


class AuthenticationError(SarkError):
    """The caller could not be authenticated."""


class PermissionDeniedError(SarkError):
    """The caller is authenticated but may not do this."""


class RateLimitedError(SarkError):
    """Too many requests; retry after ``retry_after`` seconds."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class DependencyUnavailableError(SarkError):
    """A service SARK depends on (database, Redis, OPA) cannot be reached."""


class FeatureDisabledError(SarkError):
    """The feature behind this endpoint is installed but switched off (a feature flag)."""


class SchemaOutOfDateError(SarkError):
    """The database schema is behind the code; ``sark db upgrade`` fixes it."""


class DiscoveryError(SarkError):
    """An MCP server could not be reached or did not answer the tool listing."""


class DiscoveryTimeoutError(DiscoveryError):
    """An MCP server did not answer the tool listing in time."""
