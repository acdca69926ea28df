"""API keys over HTTP: the key is in the creation (and rotation) response only."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from sark.api.domain.identity.apikeys import ApiKeyService
from sark.api.domain.identity.context import Identity
from sark.api.domain.identity.guards import require_authenticated
from sark.api.domain.identity.pagination import DEFAULT_LIMIT, Limit
from sark.api.domain.identity.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, ApiKeyPage
from sark.core.models import Principal


class ApiKeyController(Controller):
    """Keys for services and automation, owned by the user who creates them."""

    path = "/api/v1/api-keys"
    tags = ("api-keys",)
    guards = (require_authenticated,)

    @post(operation_id="createApiKey", status_code=HTTP_201_CREATED, summary="Create an API key")
    async def create_key(
        self,
        data: JSONBody[ApiKeyCreate],
        principal: NamedDependency[Principal],
        identity: NamedDependency[Identity],
        db_session: NamedDependency[AsyncSession],
    ) -> ApiKeyCreated:
        """Create a key with scopes and an expiry; ``key`` is shown in this response only."""
        return await ApiKeyService(session=db_session).issue(identity, principal, data)

    @get(operation_id="listApiKeys", summary="List API keys")
    async def list_keys(
        self,
        principal: NamedDependency[Principal],
        db_session: NamedDependency[AsyncSession],
        cursor: FromQuery[str | None] = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> ApiKeyPage:
        """The caller's keys (admins: every key), without secrets."""
        keys = ApiKeyService(session=db_session)
        rows, next_cursor = await keys.page(principal, cursor, limit)
        return ApiKeyPage(items=[await keys.to_out(k) for k in rows], next_cursor=next_cursor)

    @get("/{key_id:uuid}", operation_id="getApiKey", summary="Read an API key")
    async def get_key(
        self,
        key_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[AsyncSession],
    ) -> ApiKeyOut:
        """One key's record, including when and from where it was last used."""
        keys = ApiKeyService(session=db_session)
        return await keys.to_out(await keys.visible(principal, key_id))

    @post(
        "/{key_id:uuid}/rotate",
        operation_id="rotateApiKey",
        status_code=HTTP_200_OK,
        summary="Rotate an API key",
    )
    async def rotate_key(
        self,
        key_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        identity: NamedDependency[Identity],
        db_session: NamedDependency[AsyncSession],
    ) -> ApiKeyCreated:
        """Issue a new key in place of this one; the old key stops working at once."""
        return await ApiKeyService(session=db_session).rotate(identity, principal, key_id)

    @post(
        "/{key_id:uuid}/revoke",
        operation_id="revokeApiKey",
        status_code=HTTP_200_OK,
        summary="Revoke an API key",
    )
    async def revoke_key(
        self,
        key_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        identity: NamedDependency[Identity],
        db_session: NamedDependency[AsyncSession],
    ) -> ApiKeyOut:
        """Revoke a key; its record stays for the audit trail."""
        keys = ApiKeyService(session=db_session)
        return await keys.to_out(await keys.revoke(identity, principal, key_id))

    @delete("/{key_id:uuid}", operation_id="deleteApiKey", summary="Revoke an API key (alias)")
    async def delete_key(
        self,
        key_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        identity: NamedDependency[Identity],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        """Same as ``POST /{id}/revoke``."""
        await ApiKeyService(session=db_session).revoke(identity, principal, key_id)
