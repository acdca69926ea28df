"""The SQLAlchemy plugin configuration for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

from typing import Any

from advanced_alchemy.extensions.litestar import (
    AsyncSessionConfig,
    EngineConfig,
    SQLAlchemyAsyncConfig,
)
from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sark.core.settings import DatabaseSettings

SQLITE_BUSY_TIMEOUT_SECONDS = 30
"""How long a SQLite connection waits for another writer's lock before failing."""


def engine_options(database: DatabaseSettings) -> dict[str, Any]:
    """Engine keyword arguments suited to the backend."""
    if database.backend == "sqlite":
        # One file, many readers: WAL and a generous busy timeout keep writers from failing.
        return {"echo": database.echo, "connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}}
    return {
        "echo": database.echo,
        "pool_size": database.pool_size,
        "max_overflow": database.pool_size,
        "pool_pre_ping": True,
        "pool_recycle": 1800,
    }


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(database: DatabaseSettings) -> AsyncEngine:
    """A new async engine for ``database``, with SQLite pragmas applied on connect."""
    engine = create_async_engine(database.url.reveal(), **engine_options(database))
    if database.backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def sqlite_sync_twin(engine: AsyncEngine) -> Engine:
    """A synchronous engine on the SQLite file of ``engine`` (same timeout and pragmas).

    For work that runs on a thread of its own instead of the event loop (the audit writer's
    inserts); the caller disposes of it.
    """
    url = engine.url.set(drivername="sqlite")
    twin = create_sync_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
    event.listen(twin, "connect", _sqlite_pragmas)
    return twin


def sqlalchemy_config(database: DatabaseSettings, engine: AsyncEngine) -> SQLAlchemyAsyncConfig:
    """The advanced-alchemy plugin configuration sharing ``engine``."""
    return SQLAlchemyAsyncConfig(
        engine_instance=engine,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        engine_config=EngineConfig(),
        before_send_handler="autocommit",
        create_all=False,
        session_dependency_key="db_session",
    )
