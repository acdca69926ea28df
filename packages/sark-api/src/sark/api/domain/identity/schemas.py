"""Request and response bodies of the identity API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from sark.core.models import Role

Username = Annotated[
    str, msgspec.Meta(min_length=1, max_length=150, pattern=r"^[A-Za-z0-9._@+-]+$")
]
TeamName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._ -]+$")]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
NewPassword = Annotated[str, msgspec.Meta(min_length=8, max_length=1024)]
Email = Annotated[str, msgspec.Meta(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]
Scope = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Username and password."""

    username: Annotated[str, msgspec.Meta(min_length=1, max_length=150)]
    password: Password


class RefreshRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A refresh token to exchange."""

    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class LogoutRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Optionally, the refresh token whose session ends (default: the caller's session)."""

    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None


class TokenPair(msgspec.Struct):
    """Tokens issued by login and refresh."""

    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"  # noqa: S105 (the OAuth token type, not a secret)


class SessionInfo(msgspec.Struct):
    """One of the caller's sessions (a login and its refreshes)."""

    id: UUID
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime
    client_ip: str | None
    user_agent: str | None
    current: bool


class UserCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new local user."""

    username: Username
    password: NewPassword
    role: Role = Role.DEVELOPER
    email: Email | None = None
    display_name: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    teams: list[TeamName] = msgspec.field(default_factory=list)


class UserUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to a user; absent fields stay as they are."""

    email: Email | msgspec.UnsetType | None = msgspec.UNSET
    display_name: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )
    password: NewPassword | msgspec.UnsetType = msgspec.UNSET
    role: Role | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET
    teams: list[TeamName] | msgspec.UnsetType = msgspec.UNSET


class UserOut(msgspec.Struct):
    """A user as the API shows it (never the password hash)."""

    id: UUID
    username: str
    email: str | None
    display_name: str | None
    role: Role
    is_active: bool
    auth_provider: str
    teams: list[str]
    created_at: datetime
    last_login_at: datetime | None


class Me(msgspec.Struct):
    """The authenticated caller."""

    id: str
    type: str
    role: Role
    teams: list[str]
    name: str
    auth_method: str
    scopes: list[str] | None = None
    user: UserOut | None = None


class TeamCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new team."""

    name: TeamName
    description: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class TeamUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to a team."""

    description: Annotated[str, msgspec.Meta(max_length=500)] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )


class TeamMemberAdd(msgspec.Struct, forbid_unknown_fields=True):
    """A user to add to a team (by username)."""

    username: Username
    is_lead: bool = False


class TeamMemberOut(msgspec.Struct):
    """A member of a team."""

    user_id: UUID
    username: str
    is_lead: bool


class TeamOut(msgspec.Struct):
    """A team with its members."""

    id: UUID
    name: str
    description: str | None
    members: list[TeamMemberOut]
    created_at: datetime


class ApiKeyCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new API key for the caller (or, for admins, for a named user)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    scopes: Annotated[list[Scope], msgspec.Meta(min_length=1, max_length=10)]
    expires_in_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = 90
    team: TeamName | None = None
    rate_limit_per_minute: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] | None = None


class ApiKeyOut(msgspec.Struct):
    """An API key's record (never its secret)."""

    id: UUID
    key_id: str
    prefix: str
    name: str
    scopes: list[str]
    owner_id: UUID | None
    team: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    last_used_ip: str | None
    rate_limit_per_minute: int | None


class ApiKeyCreated(msgspec.Struct):
    """A new (or rotated) key: ``key`` is shown this once and never again."""

    id: UUID
    key: str
    key_id: str
    name: str
    scopes: list[str]
    expires_at: datetime | None


class Page(msgspec.Struct):
    """Base shape of a cursor-paginated list."""

    next_cursor: str | None


class UserPage(Page):
    """A page of users."""

    items: list[UserOut]


class TeamPage(Page):
    """A page of teams."""

    items: list[TeamOut]


class ApiKeyPage(Page):
    """A page of API keys."""

    items: list[ApiKeyOut]
