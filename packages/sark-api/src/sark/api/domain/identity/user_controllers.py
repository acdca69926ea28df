"""Administration of users: create, list, read, update, delete."""

from __future__ import annotations

from uuid import UUID

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from sark.api.domain.identity.context import Identity
from sark.api.domain.identity.guards import require_authenticated, require_roles, require_scope
from sark.api.domain.identity.models import User
from sark.api.domain.identity.pagination import DEFAULT_LIMIT, Limit
from sark.api.domain.identity.schemas import UserCreate, UserOut, UserPage, UserUpdate
from sark.api.domain.identity.services import UserService
from sark.api.domain.identity.sessions import revoke_user_sessions
from sark.core.errors import ConflictError, PermissionDeniedError
from sark.core.models import Principal, Role

_ADMIN = require_roles(Role.ADMIN)
_READERS = require_roles(Role.ADMIN, Role.SECURITY_ADMIN)
_SELF_FIELDS = frozenset({"email", "display_name", "password"})


class UserController(Controller):
    """Users: admins manage everyone; anyone may read and edit their own profile."""

    path = "/api/v1/users"
    tags = ("users",)
    guards = (require_authenticated, require_scope("admin"))

    @post(
        operation_id="createUser",
        status_code=HTTP_201_CREATED,
        guards=[_ADMIN],
        summary="Create a user",
    )
    async def create_user(
        self,
        data: JSONBody[UserCreate],
        principal: NamedDependency[Principal],
        identity: NamedDependency[Identity],
        db_session: NamedDependency[AsyncSession],
    ) -> UserOut:
        """Create a local user with a password, role and teams (which must exist)."""
        users = UserService(session=db_session)
        user = await users.create_user(
            username=data.username,
            role=data.role,
            password_hash=await identity.passwords.hash(data.password),
            email=data.email,
            display_name=data.display_name,
            teams=data.teams,
        )
        identity.audit(
            "user.create",
            principal=principal,
            resource=f"user:{user.id}",
            details={
                "username": user.username,
                "role": user.role,
                "teams": sorted(set(data.teams)),
            },
        )
        return await users.to_out(user)

    @get(operation_id="listUsers", guards=[_READERS], summary="List users")
    async def list_users(
        self,
        db_session: NamedDependency[AsyncSession],
        cursor: FromQuery[str | None] = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> UserPage:
        """Users in creation order; pass ``next_cursor`` back as ``cursor`` for more."""
        users = UserService(session=db_session)
        rows, next_cursor = await users.page(cursor, limit)
        return UserPage(items=[await users.to_out(u) for u in rows], next_cursor=next_cursor)

    @get("/{user_id:uuid}", operation_id="getUser", summary="Read a user")
    async def get_user(
        self,
        user_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[AsyncSession],
    ) -> UserOut:
        """One user (admins and security admins: anyone; others: themselves)."""
        _require_self_or(principal, user_id, Role.ADMIN, Role.SECURITY_ADMIN)
        users = UserService(session=db_session)
        return await users.to_out(await users.require(user_id))

    @patch("/{user_id:uuid}", operation_id="updateUser", summary="Change a user")
    async def update_user(
        self,
        user_id: FromPath[UUID],
        data: JSONBody[UserUpdate],
        principal: NamedDependency[Principal],
        identity: NamedDependency[Identity],
        db_session: NamedDependency[AsyncSession],
    ) -> UserOut:
        """Change a user; only admins change role, activity or teams."""
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        if not principal.is_admin:
            _require_self_or(principal, user_id)
            forbidden = sorted(set(changes) - _SELF_FIELDS)
            if forbidden:
                msg = f"only an admin may change {', '.join(forbidden)}"
                raise PermissionDeniedError(msg)
        users = UserService(session=db_session)
        user = await users.require(user_id)
        before = {"role": user.role, "is_active": user.is_active}
        await _guard_last_admin(users, user, changes)
        await _apply(users, identity, user, changes)
        await db_session.flush()
        changed_access = before != {"role": user.role, "is_active": user.is_active} or (
            "teams" in changes or "password" in changes
        )
        if changed_access:
            # Tokens carry role and teams: end sessions so no token outlives the change.
            await revoke_user_sessions(db_session, identity, user.id, "user_changed")
            await identity.user_changed(str(user.id))
        details: dict[str, object] = {"fields": sorted(k for k in changes if k != "password")}
        if "password" in changes:
            details["password_changed"] = True
        if before["role"] != user.role:
            details["role_from"], details["role_to"] = before["role"], user.role
            identity.audit(
                "user.role_change",
                principal=principal,
                resource=f"user:{user.id}",
                details={"from": before["role"], "to": user.role},
            )
        identity.audit(
            "user.update", principal=principal, resource=f"user:{user.id}", details=details
        )
        return await users.to_out(user)

    @delete("/{user_id:uuid}", operation_id="deleteUser", guards=[_ADMIN], summary="Delete a user")
    async def delete_user(
        self,
        user_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        identity: NamedDependency[Identity],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        """Delete a user with their sessions and API keys (deactivate to keep history)."""
        users = UserService(session=db_session)
        user = await users.require(user_id)
        await _guard_last_admin(users, user, {"is_active": False})
        await revoke_user_sessions(db_session, identity, user.id, "user_deleted")
        await users.delete(user.id)
        await identity.user_changed(str(user.id))
        identity.audit(
            "user.delete",
            principal=principal,
            resource=f"user:{user_id}",
            details={"username": user.username},
        )


def _require_self_or(principal: Principal, user_id: UUID, *roles: Role) -> None:
    if principal.id == str(user_id) and principal.auth_method != "api_key":
        return
    if principal.role in roles:
        return
    raise PermissionDeniedError("you may only see or change your own user")


async def _guard_last_admin(users: UserService, user: User, changes: dict[str, object]) -> None:
    demoted = changes.get("role", user.role) != Role.ADMIN or changes.get("is_active") is False
    last = user.role == Role.ADMIN and user.is_active and demoted
    if last and await users.count_active_admins() <= 1:
        raise ConflictError("this is the last active admin; make another admin first")


async def _apply(
    users: UserService, identity: Identity, user: User, changes: dict[str, object]
) -> None:
    for name in ("email", "display_name", "is_active"):
        if name in changes:
            setattr(user, name, changes[name])
    if "role" in changes:
        user.role = str(changes["role"])
    if "password" in changes:
        user.password_hash = await identity.passwords.hash(str(changes["password"]))
    if "teams" in changes:
        teams = changes["teams"]
        assert isinstance(teams, list)
        await users.set_teams(user, teams)
