"""First start: create the ``admin`` user when the database has no user at all."""

from __future__ import annotations

import logging
import secrets
import sys

from advanced_alchemy.exceptions import IntegrityError as WrappedIntegrityError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sark.api.domain.identity.context import Identity
from sark.api.domain.identity.models import User
from sark.api.domain.identity.services import UserService
from sark.core.errors import ConflictError
from sark.core.models import Role

ADMIN_USERNAME = "admin"
log = logging.getLogger("sark.identity")


async def ensure_admin(identity: Identity) -> bool:
    """Create ``admin`` if no user exists; whether it was created."""
    async with AsyncSession(identity.runtime.engine, expire_on_commit=False) as db:
        count = (await db.execute(select(func.count()).select_from(User))).scalar_one()
        if count:
            return False
        configured = identity.settings.auth.admin_password
        password = configured.reveal() if configured else secrets.token_urlsafe(18)
        users = UserService(session=db)
        try:
            await users.create_user(
                username=ADMIN_USERNAME,
                role=Role.ADMIN,
                password_hash=await identity.passwords.hash(password),
                display_name="Administrator",
            )
            await db.commit()
        except (IntegrityError, WrappedIntegrityError, ConflictError):
            # Another worker created it first, between our count and our insert: the
            # service's name check or the unique index (wrapped by advanced-alchemy) sees it.
            await db.rollback()
            return False
    identity.audit("user.create", resource="user:admin", details={"bootstrap": True})
    if not configured:
        # Printed once, on the console only: never logged, never stored in clear.
        sys.stderr.write(
            "\nSARK created the first user.\n"
            f"  username: {ADMIN_USERNAME}\n"
            f"  password: {password}\n"
            "Store it now: it will not be shown again (set SARK_ADMIN_PASSWORD to choose it).\n\n"
        )
        sys.stderr.flush()
    log.info("created the first admin user %r", ADMIN_USERNAME)
    return True
