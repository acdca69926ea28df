"""Teams: create, list, read, change, delete; members and leads."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from sark.api.domain.identity.context import Identity
from sark.api.domain.identity.guards import require_authenticated, require_roles, require_scope
from sark.api.domain.identity.models import Team
from sark.api.domain.identity.pagination import DEFAULT_LIMIT, Limit
from sark.api.domain.identity.schemas import (
    TeamCreate,
    TeamMemberAdd,
    TeamOut,
    TeamPage,
    TeamUpdate,
)
from sark.api.domain.identity.services import TeamService, UserService
from sark.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from sark.core.models import Principal, Role

_ADMIN = require_roles(Role.ADMIN)
_SEES_ALL = frozenset({Role.ADMIN, Role.SECURITY_ADMIN})


class TeamController(Controller):
    """Teams: admins manage them; team leads manage their team's members."""

    path = "/api/v1/teams"
    tags = ("teams",)
    guards = (require_authenticated,)

    @post(
        operation_id="createTeam",
        status_code=HTTP_201_CREATED,
        guards=[_ADMIN, require_scope("admin")],
        summary="Create a team",
    )
    async def create_team(
        self,
        data: JSONBody[TeamCreate],
        principal: NamedDependency[Principal],
        identity: NamedDependency[Identity],
        db_session: NamedDependency[AsyncSession],
    ) -> TeamOut:
        """Create an empty team."""
        teams = TeamService(session=db_session)
        team = await teams.create_team(data.name, data.description)
        identity.audit(
            "team.create",
            principal=principal,
            resource=f"team:{team.id}",
            details={"name": team.name},
        )
        return await teams.to_out(team)

    @get(operation_id="listTeams", summary="List teams")
    async def list_teams(
        self,
        principal: NamedDependency[Principal],
        db_session: NamedDependency[AsyncSession],
        cursor: FromQuery[str | None] = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> TeamPage:
        """Teams in creation order (admins see all; others the teams they belong to)."""
        teams = TeamService(session=db_session)
        rows, next_cursor = await teams.page(cursor, limit)
        if principal.role not in _SEES_ALL:
            rows = [t for t in rows if t.name in principal.teams]
        return TeamPage(items=[await teams.to_out(t) for t in rows], next_cursor=next_cursor)

    @get("/{team_id:uuid}", operation_id="getTeam", summary="Read a team")
    async def get_team(
        self,
        team_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[AsyncSession],
    ) -> TeamOut:
        """One team with its members (admins, or its members)."""
        teams = TeamService(session=db_session)
        team = await _visible(teams, team_id, principal)
        return await teams.to_out(team)

    @patch("/{team_id:uuid}", operation_id="updateTeam", summary="Change a team")
    async def update_team(
        self,
        team_id: FromPath[UUID],
        data: JSONBody[TeamUpdate],
        principal: NamedDependency[Principal],
        identity: NamedDependency[Identity],
        db_session: NamedDependency[AsyncSession],
    ) -> TeamOut:
        """Change a team's description (admins and the team's leads)."""
        teams = TeamService(session=db_session)
        team = await _visible(teams, team_id, principal)
        await _require_lead(teams, team, principal)
        if isinstance(data.description, str) or data.description is None:
            team.description = data.description
        await db_session.flush()
        identity.audit("team.update", principal=principal, resource=f"team:{team.id}")
        return await teams.to_out(team)

    @delete(
        "/{team_id:uuid}",
        operation_id="deleteTeam",
        guards=[_ADMIN, require_scope("admin")],
        summary="Delete a team",
    )
    async def delete_team(
        self,
        team_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        identity: NamedDependency[Identity],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        """Delete a team and its memberships."""
        teams = TeamService(session=db_session)
        team = await teams.require(team_id)
        await teams.delete(team.id)
        identity.audit(
            "team.delete",
            principal=principal,
            resource=f"team:{team_id}",
            details={"name": team.name},
        )

    @put(
        "/{team_id:uuid}/members",
        operation_id="putTeamMember",
        summary="Add a member (or change whether they lead)",
    )
    async def put_member(
        self,
        team_id: FromPath[UUID],
        data: JSONBody[TeamMemberAdd],
        principal: NamedDependency[Principal],
        identity: NamedDependency[Identity],
        db_session: NamedDependency[AsyncSession],
    ) -> TeamOut:
        """Add a user to the team; only admins make or unmake leads."""
        teams = TeamService(session=db_session)
        team = await _visible(teams, team_id, principal)
        await _require_lead(teams, team, principal)
        users = UserService(session=db_session)
        user = await users.by_username(data.username)
        if user is None:
            msg = f"no user named {data.username!r}"
            raise ValidationError(msg)
        member = await teams.membership(team.id, user.id)
        current_lead = bool(member and member.is_lead)
        if data.is_lead != current_lead and not principal.is_admin:
            raise PermissionDeniedError("only an admin may make or unmake team leads")
        await teams.set_member(team, user, is_lead=data.is_lead)
        await identity.user_changed(str(user.id))
        identity.audit(
            "team.member_set",
            principal=principal,
            resource=f"team:{team.id}",
            details={"user_id": str(user.id), "is_lead": data.is_lead},
        )
        return await teams.to_out(team)

    @delete(
        "/{team_id:uuid}/members/{user_id:uuid}",
        operation_id="deleteTeamMember",
        summary="Remove a member",
    )
    async def delete_member(
        self,
        team_id: FromPath[UUID],
        user_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        identity: NamedDependency[Identity],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        """Remove a user from the team (admins; leads for non-lead members)."""
        teams = TeamService(session=db_session)
        team = await _visible(teams, team_id, principal)
        await _require_lead(teams, team, principal)
        member = await teams.membership(team.id, user_id)
        if member is not None and member.is_lead and not principal.is_admin:
            raise PermissionDeniedError("only an admin may remove a team lead")
        await teams.remove_member(team, user_id)
        await identity.user_changed(str(user_id))
        identity.audit(
            "team.member_remove",
            principal=principal,
            resource=f"team:{team.id}",
            details={"user_id": str(user_id)},
        )


async def _visible(teams: TeamService, team_id: UUID, principal: Principal) -> Team:
    team = await teams.get_one_or_none(Team.id == team_id)
    # A team the caller may not see is reported as missing, not as forbidden.
    if team is None or (principal.role not in _SEES_ALL and team.name not in principal.teams):
        msg = f"no team with id {team_id}"
        raise NotFoundError(msg)
    return team


async def _require_lead(teams: TeamService, team: Team, principal: Principal) -> None:
    if principal.is_admin and principal.has_scope("admin"):
        return
    if principal.auth_method != "api_key":
        try:
            member = await teams.membership(team.id, UUID(principal.id))
        except ValueError:
            member = None
        if member is not None and member.is_lead:
            return
    raise PermissionDeniedError("only an admin or a lead of this team may change it")
