"""Propagating flag changes between replicas: Redis pub/sub when configured, else polling.

A message only says "feature X is at version N"; the receiver reloads the table, so a
message lost or received out of order cannot leave a replica on a stale state. With Redis
a slow re-read (``SARK_FLAGS_RESYNC_SECONDS``) still runs in case messages were lost while
the subscription was down; without Redis the table is read every
``SARK_FLAGS_POLL_SECONDS``, which bounds how stale a replica can be.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

from redis.asyncio import Redis

log = logging.getLogger("sark.flags")
CHANNEL: Final = "sark:flags"
RECONNECT_MAX_SECONDS: Final = 5.0
STOP_SECONDS: Final = 5.0

Refresh = Callable[[], Awaitable[None]]


async def notify(redis: Redis | None, payload: dict[str, Any], what: str) -> bool:
    """Publish ``payload`` to every replica; False when Redis is absent or failed."""
    if redis is None:
        return False
    try:
        async with asyncio.timeout(1.0):
            await redis.publish(CHANNEL, json.dumps(payload))
    except (Exception, TimeoutError) as exc:
        log.warning("%s not broadcast (%r); replicas re-read within the resync interval",
                    what, exc)  # fmt: skip
        return False
    return True


async def publish(
    redis: Redis | None, feature: str, version: int, percentage: int | None = None
) -> bool:
    """Tell every replica ``feature`` is at ``version``; False when Redis is absent or failed.

    The rollout percentage is also mirrored under ``feature:<name>:rollout_pct``, the key
    the migration guide's troubleshooting reads with ``redis-cli GET`` (a mirror only: the
    database stays the source of truth).
    """
    if redis is not None and percentage is not None:
        try:
            async with asyncio.timeout(1.0):
                await redis.set(f"feature:{feature}:rollout_pct", percentage)
        except (Exception, TimeoutError) as exc:
            log.warning("rollout mirror of %s not written (%r)", feature, exc)
    return await notify(redis, {"feature": feature, "version": version},
                        f"flag change of {feature}")  # fmt: skip


class Listener(Protocol):
    """Something else that follows the flags channel (policy reloads)."""

    def message(self, payload: dict[str, Any]) -> None:
        """A message arrived (before the next :meth:`refresh`)."""

    async def refresh(self) -> None:
        """Called after every flag re-read (message, poll or resync)."""


class FlagFollower:
    """Background task applying other replicas' changes (subscribe or poll).

    Only the worker task touches the database, and it is stopped between reads, never
    cancelled in the middle of one; the subscriber only wakes it up.
    """

    def __init__(
        self,
        refresh: Refresh,
        redis: Redis | None,
        *,
        poll_seconds: float,
        resync_seconds: float,
    ) -> None:
        """Call ``refresh`` on every message and at least every poll/resync interval."""
        self._refresh = refresh
        self._redis = redis
        self._interval = resync_seconds if redis is not None else poll_seconds
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._subscriber: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()
        """Set once the pub/sub subscription is live (tests and health wait on it)."""
        self.listeners: list[Listener] = []
        """Followers of the same channel and cadence (see :mod:`..policy.propagation`)."""

    @property
    def mode(self) -> str:
        """``pubsub`` or ``poll``."""
        return "pubsub" if self._redis is not None else "poll"

    def start(self) -> None:
        """Start following."""
        self._stop.clear()
        self._worker = asyncio.create_task(self._work(), name="sark-flags-follow")
        if self._redis is not None:
            self._subscriber = asyncio.create_task(
                self._subscribe(self._redis), name="sark-flags-subscribe"
            )

    async def close(self) -> None:
        """Stop following."""
        if self._subscriber is not None:
            self._subscriber.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._subscriber
            self._subscriber = None
        if self._worker is not None:
            self._stop.set()
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._worker), STOP_SECONDS)
            except TimeoutError:
                self._worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._worker
            self._worker = None

    async def _work(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            if self._stop.is_set():
                return
            self._wake.clear()
            try:
                await self._refresh()
            except Exception:  # a database hiccup must not kill the follower
                log.warning(
                    "reading feature flags failed; keeping the current state", exc_info=True
                )
            for listener in self.listeners:
                try:
                    await listener.refresh()
                except Exception:
                    log.warning("a follower of the flags channel failed", exc_info=True)

    async def _subscribe(self, redis: Redis) -> None:
        delay = 0.1
        while True:
            pubsub: Any = redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                self.subscribed.set()
                delay = 0.1
                self._wake.set()  # changes made while we were not subscribed
                await self._listen(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.subscribed.clear()
                log.warning("flag subscription lost (%r); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _listen(self, pubsub: Any) -> None:
        while True:
            message = await pubsub.get_message(timeout=5.0)
            if message is not None and message.get("type") == "message":
                payload = _payload(message.get("data"))
                for listener in self.listeners:
                    listener.message(payload)
                self._wake.set()


def _payload(data: Any) -> dict[str, Any]:
    try:
        decoded = json.loads(data)
    except (TypeError, ValueError):
        return {}
    return decoded if isinstance(decoded, dict) else {}
