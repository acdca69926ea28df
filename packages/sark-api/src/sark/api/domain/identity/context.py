"""The identity machinery of one application: keys, caches, limits, background sync."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

from sqlalchemy import update

from sark.api.domain.identity.authn import Authenticator
from sark.api.domain.identity.models import ApiKey
from sark.api.domain.identity.ratelimit import (
    CounterStore,
    LoginThrottle,
    MemoryCounters,
    RedisCounters,
    RequestLimiter,
)
from sark.api.domain.identity.revocation import (
    DatabaseFeed,
    RedisFeed,
    RevocationFeed,
    Revocations,
)
from sark.api.observability.logging import request_id_var
from sark.api.runtime import Runtime
from sark.api.security.apikeys import ApiKeyHasher
from sark.api.security.passwords import PasswordHasher
from sark.api.security.secretfile import load_or_create_secret
from sark.api.security.tokens import JwtCodec
from sark.core.errors import ConfigError
from sark.core.models import AuditEvent, Principal

log = logging.getLogger("sark.identity")


class Identity:
    """Everything identity keeps for the life of the app (``app.state.identity``)."""

    def __init__(self, runtime: Runtime, passwords: PasswordHasher | None = None) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.passwords = passwords or PasswordHasher()
        auth = self.settings.auth
        keep = float(auth.jwt.access_ttl_seconds + 120)
        self.revocations = Revocations(keep_seconds=keep)
        counters: CounterStore = (
            RedisCounters(runtime.redis) if runtime.redis is not None else MemoryCounters()
        )
        self.throttle = LoginThrottle(counters, auth.rate_limit)
        self.limiter = RequestLimiter(counters)
        self.feed: RevocationFeed = (
            RedisFeed(runtime.redis, keep)
            if runtime.redis is not None
            else DatabaseFeed(runtime.engine)
        )
        self._authenticator: Authenticator | None = None
        self._codec: JwtCodec | None = None
        self._hasher: ApiKeyHasher | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.oidc: Any = None
        self.ldap: Any = None

    # ------------------------------------------------------------------ lifecycle

    def prepare(self) -> None:
        """Load (or generate) keys; idempotent, no network."""
        if self._authenticator is not None:
            return
        auth = self.settings.auth
        self._codec = JwtCodec.from_settings(self.settings)
        pepper = (
            auth.api_key_pepper.reveal()
            if auth.api_key_pepper
            else load_or_create_secret(Path(self.settings.home) / "api_key.pepper")
        )
        if len(pepper) < 16:
            msg = "SARK_API_KEY_PEPPER must be at least 16 characters"
            raise ConfigError(msg)
        self._hasher = ApiKeyHasher(pepper)
        self._authenticator = Authenticator(
            codec=self._codec,
            hasher=self._hasher,
            engine=self.runtime.engine,
            revocations=self.revocations,
            cache_size=auth.token_cache_size,
        )
        self._configure_external()

    def _configure_external(self) -> None:
        if self.settings.auth.oidc.issuer:
            from sark.api.domain.identity.oidc import OidcVerifier

            self.oidc = OidcVerifier(self)
            self.authenticator.external = self.oidc.authenticate
            self.authenticator.is_external = self.oidc.handles
        if self.settings.auth.ldap.url:
            from sark.api.domain.identity.ldap import LdapDirectory

            self.ldap = LdapDirectory(self.settings.auth.ldap)

    async def start(self) -> None:
        """Prepare keys, create the first admin if needed, start the revocation sync."""
        from sark.api.domain.identity.bootstrap import ensure_admin

        self.prepare()
        await ensure_admin(self)
        try:
            await self._sync(time.time() - self.revocations.keep_seconds)
        except Exception:  # Redis down at start: serve anyway (readiness says so); retry
            log.warning("cannot read revocations yet; the sync loop retries", exc_info=True)
        self._task = asyncio.create_task(self._sync_loop(), name="sark-identity-sync")

    async def close(self) -> None:
        """Stop the sync and write pending last-used times."""
        if self._task is not None:
            # Ask the loop to stop between syncs: cancelling it inside a query would drop
            # the database connection without closing it (aiosqlite warns at exit).
            self._stop.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=5)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self.flush_touches()

    async def _sync_loop(self) -> None:
        interval = self.settings.auth.revocation_sync_seconds
        last = time.time()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=interval)
            if self._stop.is_set():
                return
            started = time.time()
            try:
                await self._sync(last)
                await self.flush_touches()
                last = started
            except Exception:  # a database hiccup must not end the loop
                log.warning("identity sync failed; retrying", exc_info=True)

    async def _sync(self, since: float) -> None:
        for kind, ident in await self.feed.since(since):
            self.revocations.add(kind, ident)
        self.revocations.prune()
        self.authenticator.forget_expired()

    async def flush_touches(self) -> None:
        """Write the throttled last-used time and address of API keys."""
        if not self._authenticator or not self._authenticator.touches:
            return
        touches, self._authenticator.touches = self._authenticator.touches, {}
        async with self.runtime.engine.begin() as connection:
            for key_id, touch in touches.items():
                await connection.execute(
                    update(ApiKey)
                    .where(ApiKey.key_id == key_id)
                    .values(last_used_at=touch.at, last_used_ip=touch.ip)
                )

    # ------------------------------------------------------------------ accessors

    @property
    def authenticator(self) -> Authenticator:
        """The request authenticator (after :meth:`prepare`)."""
        if self._authenticator is None:
            self.prepare()
        assert self._authenticator is not None
        return self._authenticator

    @property
    def codec(self) -> JwtCodec:
        """The access-token codec."""
        return self.authenticator.codec

    @property
    def hasher(self) -> ApiKeyHasher:
        """The API-key hasher."""
        return self.authenticator.hasher

    # ------------------------------------------------------------------ revocation

    async def revoke_sessions(self, session_ids: list[str]) -> None:
        """Stop accepting access tokens of these sessions here and (via the feed) elsewhere."""
        for sid in session_ids:
            self.revocations.add("session", sid)
            await self._publish("session", sid)

    async def revoke_key(self, key_id: str) -> None:
        """Stop accepting an API key here and elsewhere."""
        self.revocations.add("key", key_id)
        self.authenticator.forget_key(key_id)
        await self._publish("key", key_id)

    async def user_changed(self, user_id: str) -> None:
        """Reload the user's API keys (role changed, deactivated)."""
        self.revocations.add("user", user_id)
        await self._publish("user", user_id)

    async def _publish(self, kind: str, ident: str) -> None:
        try:
            await self.feed.publish(kind, ident)
        except Exception:  # the database row is the record; the feed only speeds others up
            log.warning("could not publish a %s revocation", kind, exc_info=True)

    # ------------------------------------------------------------------ audit

    def audit(
        self,
        action: str,
        *,
        principal: Principal | None = None,
        resource: str | None = None,
        allow: bool | None = True,
        reason: str = "",
        client_ip: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record an identity event (never with a secret in it)."""
        self.runtime.audit.record(
            AuditEvent(
                kind="identity",
                action=action,
                occurred_at=time.time(),
                principal_id=principal.id if principal else None,
                principal_type=str(principal.type) if principal else None,
                principal_role=str(principal.role) if principal else None,
                resource=resource,
                allow=allow,
                reason=reason,
                request_id=request_id_var.get(None),
                client_ip=client_ip,
                details=details or {},
            )
        )
