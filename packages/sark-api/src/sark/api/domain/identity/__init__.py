"""Identity: users, teams, sessions, API keys, external providers, authentication, limits."""

from sark.api.domain.identity.guards import require_authenticated, require_roles, require_scope

__all__ = ["require_authenticated", "require_roles", "require_scope"]
