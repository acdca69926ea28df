"""``sark users``: manage users from the command line (first admin, service accounts)."""

from __future__ import annotations

import asyncio
import sys
import time

import click
from sqlalchemy.ext.asyncio import AsyncSession

from sark.api.cli._common import clean_errors, emit, fail, json_option, load_settings
from sark.api.db.engine import create_engine
from sark.api.db.migrations import ensure_schema
from sark.api.domain.audit.sink import LogAuditSink
from sark.api.domain.identity.services import TeamService, UserService
from sark.api.security.passwords import MIN_PASSWORD_LENGTH, PasswordHasher
from sark.core.models import AuditEvent, Role
from sark.core.settings import Settings

ROLES = [str(r) for r in Role]


@click.group()
def users() -> None:
    """Manage users."""


@users.command()
@click.argument("username")
@click.option("--admin", "make_admin", is_flag=True, help="Give the user the admin role.")
@click.option("--role", type=click.Choice(ROLES), default=None, help="Role (default developer).")
@click.option("--email", default=None, help="Email address.")
@click.option("--team", "teams", multiple=True, help="Team to join (created if missing).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@json_option
@clean_errors
def create(  # noqa: PLR0917 (click passes options positionally by name)
    username: str,
    make_admin: bool,
    role: str | None,
    email: str | None,
    teams: tuple[str, ...],
    password_stdin: bool,
    as_json: bool,
) -> None:
    """Create the local user USERNAME (the password is prompted unless --password-stdin)."""
    if make_admin and role not in (None, "admin"):
        fail("--admin and --role disagree; give one of them")
    chosen = Role.ADMIN if make_admin else Role(role or "developer")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        fail(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    settings = load_settings()
    user_id = asyncio.run(
        _create(
            settings, username=username, role=chosen, password=password, email=email, teams=teams
        )
    )
    payload = {"id": user_id, "username": username, "role": str(chosen), "teams": sorted(teams)}
    emit(payload, as_json, lambda: click.echo(f"created user {username} ({chosen}), id {user_id}"))


async def _create(
    settings: Settings,
    *,
    username: str,
    role: Role,
    password: str,
    email: str | None,
    teams: tuple[str, ...],
) -> str:
    await ensure_schema(settings)
    engine = create_engine(settings.database)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as db:
            await TeamService(session=db).ensure(teams)
            user = await UserService(session=db).create_user(
                username=username,
                role=role,
                password_hash=await PasswordHasher().hash(password),
                email=email,
                teams=teams,
            )
            await db.commit()
    finally:
        await engine.dispose()
    LogAuditSink().record(
        AuditEvent(
            kind="identity",
            action="user.create",
            occurred_at=time.time(),
            resource=f"user:{user.id}",
            allow=True,
            details={"username": username, "role": str(role), "via": "cli"},
        )
    )
    return str(user.id)
