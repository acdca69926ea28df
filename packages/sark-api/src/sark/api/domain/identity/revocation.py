"""What every replica must stop accepting: logged-out sessions and revoked API keys.

The hot path checks in-process sets only. Revocations made in this process apply at once;
those made by other replicas arrive through a feed polled every
``auth.revocation_sync_seconds``: a Redis sorted set when Redis is configured, else the
database rows themselves (``revoked_at`` columns), which every replica shares.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Final, Protocol

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from sark.api.domain.identity.models import ApiKey, AuthSession, User

FEED_KEY: Final = "sark:identity:revocations"
# Rows committed slightly before the previous poll's clock reading are read again.
_OVERLAP_SECONDS: Final = 5.0


class Revocations:
    """In-process view: revoked session ids, revoked key ids, users whose keys changed."""

    def __init__(self, keep_seconds: float) -> None:
        self.keep_seconds = keep_seconds
        self.sessions: dict[str, float] = {}
        self.keys: set[str] = set()
        self.users: set[str] = set()
        """Users changed since the key cache last looked (role, deactivation)."""

    def add(self, kind: str, ident: str) -> None:
        """Record one revocation (``session``, ``key`` or ``user``)."""
        if kind == "session":
            self.sessions[ident] = time.monotonic() + self.keep_seconds
        elif kind == "key":
            self.keys.add(ident)
        elif kind == "user":
            self.users.add(ident)

    def prune(self) -> None:
        """Forget sessions whose access tokens have all expired."""
        now = time.monotonic()
        for sid in [s for s, until in self.sessions.items() if until <= now]:
            del self.sessions[sid]


class RevocationFeed(Protocol):
    """Where revocations are published for other replicas and read back."""

    async def publish(self, kind: str, ident: str) -> None:
        """Announce a revocation (the database row is already written)."""

    async def since(self, when: float) -> list[tuple[str, str]]:
        """``(kind, id)`` of revocations made at or after unix time ``when``."""


class DatabaseFeed:
    """Reads the ``revoked_at``/``updated_at`` columns every replica shares."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def publish(self, kind: str, ident: str) -> None:
        """Nothing to do: the revocation is the database row."""

    async def since(self, when: float) -> list[tuple[str, str]]:
        """Sessions and keys revoked, and users changed, since ``when``."""
        moment = datetime.fromtimestamp(when - _OVERLAP_SECONDS, UTC)
        async with self._engine.connect() as connection:
            sessions = await connection.execute(
                select(AuthSession.id).where(AuthSession.revoked_at >= moment)
            )
            keys = await connection.execute(
                select(ApiKey.key_id).where(ApiKey.revoked_at >= moment)
            )
            users = await connection.execute(select(User.id).where(User.updated_at >= moment))
            found = [("session", str(row[0])) for row in sessions]
            found += [("key", str(row[0])) for row in keys]
            found += [("user", str(row[0])) for row in users]
        return found


class RedisFeed:
    """A sorted set scored by time, trimmed to the longest time anything is cached."""

    def __init__(self, redis: Redis, keep_seconds: float) -> None:
        self._redis = redis
        self._keep = keep_seconds

    async def publish(self, kind: str, ident: str) -> None:
        """Add ``kind:id`` to the feed and drop entries nobody needs any more."""
        now = time.time()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(FEED_KEY, {f"{kind}:{ident}": now})
            pipe.zremrangebyscore(FEED_KEY, 0, now - self._keep)
            await pipe.execute()

    async def since(self, when: float) -> list[tuple[str, str]]:
        """Entries scored at or after ``when`` (with a small overlap)."""
        members = await self._redis.zrangebyscore(FEED_KEY, when - _OVERLAP_SECONDS, "+inf")
        found = []
        for member in members:
            text = member.decode() if isinstance(member, bytes) else str(member)
            kind, _, ident = text.partition(":")
            found.append((kind, ident))
        return found
