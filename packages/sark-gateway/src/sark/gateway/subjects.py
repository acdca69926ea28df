"""Subjects named by a policy enforcement point, resolved to SARK principals.

An AuthZEN or OPA-style request names its subject (username, email or external id); the
role and teams policy needs come from SARK's users, never from the request, unless the
enforcement point's key is configured as trusted. Lookups are cached briefly.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Any, Final

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from sark.api.domain.identity.models import Team, TeamMember, User
from sark.core.models import Principal, PrincipalType, Role

CACHE_SECONDS: Final = 30.0
CACHE_SIZE: Final = 10_000


class SubjectResolver:
    """Finds the SARK user a subject id names; a short cache keeps lookups off the hot path."""

    def __init__(self, engine: AsyncEngine) -> None:
        """Read users through ``engine``."""
        self._engine = engine
        self._cache: dict[str, tuple[Principal | None, float]] = {}

    async def resolve(self, subject_id: str) -> Principal | None:
        """The active user whose id, username, email or external id is ``subject_id``."""
        now = time.monotonic()
        cached = self._cache.get(subject_id)
        if cached is not None and now - cached[1] < CACHE_SECONDS:
            return cached[0]
        principal = await self._load(subject_id)
        if len(self._cache) >= CACHE_SIZE:
            self._cache.pop(next(iter(self._cache)))
        self._cache[subject_id] = (principal, now)
        return principal

    async def _load(self, subject_id: str) -> Principal | None:
        clauses: list[Any] = [
            User.username == subject_id,
            User.email == subject_id,
            User.external_id == subject_id,
        ]
        with contextlib.suppress(ValueError):
            clauses.append(User.id == uuid.UUID(subject_id))
        async with self._engine.connect() as connection:
            columns = select(User.id, User.username, User.role, User.is_active)
            users = (await connection.execute(columns.where(or_(*clauses)).limit(2))).all()
            if len(users) != 1 or not users[0].is_active:
                return None  # unknown, inactive, or ambiguous (an email shared by two accounts)
            user = users[0]
            teams = (
                await connection.execute(
                    select(Team.name)
                    .join(TeamMember, TeamMember.team_id == Team.id)
                    .where(TeamMember.user_id == user.id)
                )
            ).scalars()
            team_names = tuple(sorted(str(t) for t in teams))
        return Principal(
            id=str(user.id),
            type=PrincipalType.USER,
            role=Role(user.role),
            teams=team_names,
            name=user.username,
            auth_method="pep_subject",
        )


def asserted_principal(subject_id: str, properties: dict[str, Any]) -> Principal | None:
    """A principal from attributes a trusted enforcement point asserts (role required)."""
    try:
        role = Role(str(properties.get("role")))
    except ValueError:
        return None
    teams = properties.get("teams") or []
    if not isinstance(teams, list) or not all(isinstance(t, str) for t in teams):
        return None
    return Principal(
        id=subject_id,
        type=PrincipalType.USER,
        role=role,
        teams=tuple(teams),
        name=subject_id,
        attributes={"asserted_by_pep": True},
        auth_method="pep_asserted",
    )
