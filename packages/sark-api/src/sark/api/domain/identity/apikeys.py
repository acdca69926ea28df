"""API keys: issue (shown once), list, read, rotate, revoke."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import select

from sark.api.domain.audit.guards import KEY_OWNERS as AUDIT_KEY_OWNERS
from sark.api.domain.identity.context import Identity
from sark.api.domain.identity.guards import SCOPES
from sark.api.domain.identity.models import ApiKey, Team
from sark.api.domain.identity.pagination import decode_cursor, encode_cursor
from sark.api.domain.identity.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from sark.api.security.apikeys import PREFIX, generate_api_key
from sark.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from sark.core.models import Principal, Role


def owner_of(principal: Principal) -> UUID:
    """The user on whose behalf ``principal`` manages keys."""
    if principal.auth_method == "api_key":
        if not principal.has_scope("admin") or principal.acting_for is None:
            raise PermissionDeniedError("managing API keys with an API key needs the 'admin' scope")
        return UUID(principal.acting_for)
    try:
        return UUID(principal.id)
    except ValueError:
        raise PermissionDeniedError("this principal cannot own API keys") from None


class ApiKeyService(SQLAlchemyAsyncRepositoryService[ApiKey]):
    """API keys of users (and their teams)."""

    class Repo(SQLAlchemyAsyncRepository[ApiKey]):
        """API key repository."""

        model_type = ApiKey

    repository_type = Repo

    async def issue(
        self, identity: Identity, principal: Principal, data: ApiKeyCreate
    ) -> ApiKeyCreated:
        """Create a key owned by the caller; the presented key is returned only here."""
        scopes = sorted(set(data.scopes))
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown:
            msg = f"unknown scope(s) {', '.join(unknown)}; valid: {', '.join(sorted(SCOPES))}"
            raise ValidationError(msg)
        if "admin" in scopes and principal.role is not Role.ADMIN:
            raise PermissionDeniedError("only an admin may grant the 'admin' scope")
        if "audit:read" in scopes and principal.role not in AUDIT_KEY_OWNERS:
            # A scope narrows its owner's rights, never widens them (issue 9: scope widening).
            raise PermissionDeniedError(
                "only an admin, security_admin or service account may grant 'audit:read'"
            )
        team_id = await self._team_id(principal, data.team)
        key_id, secret, presented = generate_api_key()
        expires = (
            datetime.now(UTC) + timedelta(days=data.expires_in_days)
            if data.expires_in_days is not None
            else None
        )
        key = await self.create(
            ApiKey(
                key_id=key_id,
                name=data.name,
                secret_hash=identity.hasher.hexdigest(secret),
                scopes=" ".join(scopes),
                owner_id=owner_of(principal),
                team_id=team_id,
                expires_at=expires,
                rate_limit_per_minute=data.rate_limit_per_minute,
            )
        )
        identity.audit(
            "api_key.create",
            principal=principal,
            resource=f"api_key:{key.id}",
            details={"key_id": key_id, "name": data.name, "scopes": scopes, "team": data.team},
        )
        return _created(key, presented)

    async def _team_id(self, principal: Principal, team: str | None) -> UUID | None:
        if team is None:
            return None
        if team not in principal.teams and not principal.is_admin:
            msg = f"you are not a member of team {team!r}"
            raise PermissionDeniedError(msg)
        row = (
            await self.repository.session.execute(select(Team.id).where(Team.name == team))
        ).first()
        if row is None:
            msg = f"no such team: {team}"
            raise ValidationError(msg)
        return UUID(str(row[0]))

    async def visible(self, principal: Principal, key_id: UUID) -> ApiKey:
        """A key the caller owns (admins: any key); :class:`NotFoundError` otherwise."""
        key = await self.get_one_or_none(ApiKey.id == key_id)
        if key is None or (not _sees_all(principal) and key.owner_id != owner_of(principal)):
            msg = f"no API key with id {key_id}"
            raise NotFoundError(msg)
        return key

    async def rotate(self, identity: Identity, principal: Principal, key_id: UUID) -> ApiKeyCreated:
        """Replace a key's id and secret: the old key stops working at once."""
        key = await self.visible(principal, key_id)
        if not principal.is_admin and key.owner_id != owner_of(principal):
            # Rotation hands out the new secret: only the owner (or an admin) may hold it.
            raise PermissionDeniedError("only the owner of a key (or an admin) may rotate it")
        if key.revoked_at is not None:
            raise ValidationError("a revoked key cannot be rotated; create a new one")
        old = key.key_id
        new_id, secret, presented = generate_api_key()
        key.key_id = new_id
        key.secret_hash = identity.hasher.hexdigest(secret)
        await self.repository.session.flush()
        await identity.revoke_key(old)
        identity.audit(
            "api_key.rotate",
            principal=principal,
            resource=f"api_key:{key.id}",
            details={"old_key_id": old, "key_id": new_id},
        )
        return _created(key, presented)

    async def revoke(self, identity: Identity, principal: Principal, key_id: UUID) -> ApiKey:
        """Revoke a key (idempotent); it is refused from now on."""
        key = await self.visible(principal, key_id)
        if key.revoked_at is None:
            key.revoked_at = datetime.now(UTC)
            await self.repository.session.flush()
            identity.audit(
                "api_key.revoke",
                principal=principal,
                resource=f"api_key:{key.id}",
                details={"key_id": key.key_id},
            )
        await identity.revoke_key(key.key_id)
        return key

    async def page(
        self, principal: Principal, cursor: str | None, limit: int
    ) -> tuple[list[ApiKey], str | None]:
        """The caller's keys (admins: all keys) in creation order."""
        query = select(ApiKey).order_by(ApiKey.id).limit(limit + 1)
        if not _sees_all(principal):
            query = query.where(ApiKey.owner_id == owner_of(principal))
        after = decode_cursor(cursor)
        if after is not None:
            query = query.where(ApiKey.id > after)
        rows = list((await self.repository.session.execute(query)).scalars().all())
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, encode_cursor(rows[-1].id) if more and rows else None

    async def to_out(self, key: ApiKey) -> ApiKeyOut:
        """The API view of a key (never its secret or hash)."""
        team = None
        if key.team_id is not None:
            row = (
                await self.repository.session.execute(
                    select(Team.name).where(Team.id == key.team_id)
                )
            ).first()
            team = str(row[0]) if row else None
        return ApiKeyOut(
            id=key.id,
            key_id=key.key_id,
            prefix=f"{PREFIX}{key.key_id}_",
            name=key.name,
            scopes=key.scopes.split(),
            owner_id=key.owner_id,
            team=team,
            created_at=key.created_at,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
            last_used_at=key.last_used_at,
            last_used_ip=key.last_used_ip,
            rate_limit_per_minute=key.rate_limit_per_minute,
        )


def _sees_all(principal: Principal) -> bool:
    return principal.role in {Role.ADMIN, Role.SECURITY_ADMIN} and principal.has_scope("admin")


def _created(key: ApiKey, presented: str) -> ApiKeyCreated:
    return ApiKeyCreated(
        id=key.id,
        key=presented,
        key_id=key.key_id,
        name=key.name,
        scopes=key.scopes.split(),
        expires_at=key.expires_at,
    )
