"""Users and teams: creation, changes, membership, pages."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import delete, func, select

from sark.api.domain.identity.models import Team, TeamMember, User
from sark.api.domain.identity.pagination import decode_cursor, encode_cursor
from sark.api.domain.identity.schemas import TeamMemberOut, TeamOut, UserOut
from sark.core.errors import ConflictError, NotFoundError, ValidationError
from sark.core.models import Role


class UserService(SQLAlchemyAsyncRepositoryService[User]):
    """Users and their team memberships."""

    class Repo(SQLAlchemyAsyncRepository[User]):
        """User repository."""

        model_type = User

    repository_type = Repo

    async def by_username(self, username: str) -> User | None:
        """The user called ``username`` (case-sensitive), if any."""
        return await self.get_one_or_none(User.username == username)

    async def require(self, user_id: UUID) -> User:
        """The user ``user_id``, or :class:`NotFoundError`."""
        user = await self.get_one_or_none(User.id == user_id)
        if user is None:
            msg = f"no user with id {user_id}"
            raise NotFoundError(msg)
        return user

    async def create_user(
        self,
        *,
        username: str,
        role: Role,
        password_hash: str | None,
        email: str | None = None,
        display_name: str | None = None,
        teams: Sequence[str] = (),
        auth_provider: str = "local",
        external_id: str | None = None,
    ) -> User:
        """Add a user (teams must exist); :class:`ConflictError` when the name is taken."""
        if await self.by_username(username) is not None:
            msg = f"a user named {username!r} already exists"
            raise ConflictError(msg)
        team_rows = await self.teams_named(teams)
        user = await self.create(
            User(
                username=username,
                role=str(role),
                password_hash=password_hash,
                email=email,
                display_name=display_name,
                auth_provider=auth_provider,
                external_id=external_id,
                is_active=True,
            )
        )
        for team in team_rows:
            self.repository.session.add(TeamMember(team_id=team.id, user_id=user.id, is_lead=False))
        await self.repository.session.flush()
        return user

    async def teams_named(self, names: Sequence[str]) -> list[Team]:
        """The teams called ``names``; :class:`ValidationError` naming any that do not exist."""
        wanted = sorted(set(names))
        if not wanted:
            return []
        rows = list(
            (await self.repository.session.execute(select(Team).where(Team.name.in_(wanted))))
            .scalars()
            .all()
        )
        missing = sorted(set(wanted) - {t.name for t in rows})
        if missing:
            msg = f"no such team(s): {', '.join(missing)}; create them first"
            raise ValidationError(msg)
        return rows

    async def set_teams(self, user: User, names: Sequence[str]) -> None:
        """Make ``user`` a member of exactly ``names`` (lead flags of kept teams stay)."""
        teams = {t.id: t for t in await self.teams_named(names)}
        session = self.repository.session
        current = {
            m.team_id: m
            for m in (
                await session.execute(select(TeamMember).where(TeamMember.user_id == user.id))
            ).scalars()
        }
        for team_id, member in current.items():
            if team_id not in teams:
                await session.delete(member)
        for team_id in teams.keys() - current.keys():
            session.add(TeamMember(team_id=team_id, user_id=user.id, is_lead=False))
        await session.flush()

    async def team_names(self, user_id: UUID) -> list[str]:
        """Names of the teams ``user_id`` belongs to, sorted."""
        rows = await self.repository.session.execute(
            select(Team.name)
            .join(TeamMember, TeamMember.team_id == Team.id)
            .where(TeamMember.user_id == user_id)
            .order_by(Team.name)
        )
        return [str(r[0]) for r in rows]

    async def count_active_admins(self) -> int:
        """Active users holding the admin role."""
        result = await self.repository.session.execute(
            select(func.count())
            .select_from(User)
            .where(User.role == str(Role.ADMIN), User.is_active.is_(True))
        )
        return int(result.scalar_one())

    async def page(self, cursor: str | None, limit: int) -> tuple[list[User], str | None]:
        """Users after ``cursor`` in creation order, and the next cursor."""
        query = select(User).order_by(User.id).limit(limit + 1)
        after = decode_cursor(cursor)
        if after is not None:
            query = query.where(User.id > after)
        rows = list((await self.repository.session.execute(query)).scalars().all())
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, encode_cursor(rows[-1].id) if more and rows else None

    async def to_out(self, user: User) -> UserOut:
        """The API view of ``user``."""
        return UserOut(
            id=user.id,
            username=user.username,
            email=user.email,
            display_name=user.display_name,
            role=Role(user.role),
            is_active=user.is_active,
            auth_provider=user.auth_provider,
            teams=await self.team_names(user.id),
            created_at=user.created_at,
            last_login_at=user.last_login_at,
        )


class TeamService(SQLAlchemyAsyncRepositoryService[Team]):
    """Teams, their members and leads."""

    class Repo(SQLAlchemyAsyncRepository[Team]):
        """Team repository."""

        model_type = Team

    repository_type = Repo

    async def require(self, team_id: UUID) -> Team:
        """The team ``team_id``, or :class:`NotFoundError`."""
        team = await self.get_one_or_none(Team.id == team_id)
        if team is None:
            msg = f"no team with id {team_id}"
            raise NotFoundError(msg)
        return team

    async def create_team(self, name: str, description: str | None) -> Team:
        """Add a team; :class:`ConflictError` when the name is taken."""
        if await self.get_one_or_none(Team.name == name) is not None:
            msg = f"a team named {name!r} already exists"
            raise ConflictError(msg)
        return await self.create(Team(name=name, description=description))

    async def ensure(self, names: Sequence[str]) -> list[Team]:
        """The teams called ``names``, creating the missing ones."""
        found: list[Team] = []
        for name in sorted(set(names)):
            team = await self.get_one_or_none(Team.name == name)
            found.append(team or await self.create(Team(name=name)))
        return found

    async def members(self, team_id: UUID) -> list[TeamMemberOut]:
        """Members of a team, by username."""
        rows = await self.repository.session.execute(
            select(User.id, User.username, TeamMember.is_lead)
            .join(TeamMember, TeamMember.user_id == User.id)
            .where(TeamMember.team_id == team_id)
            .order_by(User.username)
        )
        return [TeamMemberOut(user_id=r[0], username=r[1], is_lead=bool(r[2])) for r in rows]

    async def membership(self, team_id: UUID, user_id: UUID) -> TeamMember | None:
        """The membership row of ``user_id`` in ``team_id``, if any."""
        result = await self.repository.session.execute(
            select(TeamMember).where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)
        )
        member: TeamMember | None = result.scalar_one_or_none()
        return member

    async def set_member(self, team: Team, user: User, *, is_lead: bool) -> None:
        """Add ``user`` to ``team`` (or change their lead flag)."""
        member = await self.membership(team.id, user.id)
        if member is None:
            self.repository.session.add(
                TeamMember(team_id=team.id, user_id=user.id, is_lead=is_lead)
            )
        else:
            member.is_lead = is_lead
        await self.repository.session.flush()

    async def remove_member(self, team: Team, user_id: UUID) -> None:
        """Remove a user from a team; :class:`NotFoundError` when not a member."""
        result = await self.repository.session.execute(
            delete(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == user_id)
        )
        if not getattr(result, "rowcount", 0):
            msg = f"user {user_id} is not a member of team {team.name!r}"
            raise NotFoundError(msg)

    async def page(self, cursor: str | None, limit: int) -> tuple[list[Team], str | None]:
        """Teams after ``cursor`` in creation order, and the next cursor."""
        query = select(Team).order_by(Team.id).limit(limit + 1)
        after = decode_cursor(cursor)
        if after is not None:
            query = query.where(Team.id > after)
        rows = list((await self.repository.session.execute(query)).scalars().all())
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, encode_cursor(rows[-1].id) if more and rows else None

    async def to_out(self, team: Team) -> TeamOut:
        """The API view of ``team``."""
        return TeamOut(
            id=team.id,
            name=team.name,
            description=team.description,
            members=await self.members(team.id),
            created_at=team.created_at,
        )
