"""A policy reload requested on one worker reaches every worker and replica.

``POST /api/v1/policy/reload`` reloads the bundle in the worker that answers it; the others
learn of it the way they learn of flag changes (:mod:`sark.api.domain.admin.sync`):

- with Redis, a message ``{"policy": token}`` on the flags channel: every replica re-reads
  the bundle from its own disk at once (within 1 s, like a flag change);
- always, a marker file ``policy-reload`` in ``SARK_HOME`` holding the same token: the
  workers of one host share it and compare it on every flag poll or resync, which covers
  the embedded default (SQLite, no Redis) and messages lost while a subscription was down.

A worker that sees a new token reloads from disk like the original request did; a bundle
that no longer compiles is logged and the worker keeps serving the revision it has.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Final

from redis.asyncio import Redis

from sark.api.domain.admin.sync import notify
from sark.api.domain.policy.bundle import PolicyBundleError
from sark.api.domain.policy.services import DecisionService
from sark.core.errors import DependencyUnavailableError

log = logging.getLogger("sark.policy")
MARKER: Final = "policy-reload"


class PolicyReloads:
    """Announces this worker's reloads and applies the others' (a flag-follower listener)."""

    def __init__(self, home: Path, redis: Redis | None, decisions: DecisionService) -> None:
        """Share reloads through ``home`` (``SARK_HOME``) and ``redis`` when configured."""
        self._marker = home / MARKER
        self._redis = redis
        self._decisions = decisions
        self._seen = self._read()
        self._requested: str | None = None

    async def announce(self, revision: str) -> None:
        """Tell every other worker to reload (this one just did)."""
        token = f"{time.time_ns()}-{os.getpid()}-{revision}"
        self._seen = token
        try:
            self._marker.parent.mkdir(parents=True, exist_ok=True)
            staged = self._marker.with_name(f"{MARKER}.{os.getpid()}")
            staged.write_text(token, encoding="utf-8")
            staged.replace(self._marker)  # atomic: a reader sees the old token or the new
        except OSError as exc:
            log.warning("policy reload marker not written (%s); other workers of this host "
                        "reload only through Redis", exc)  # fmt: skip
        await notify(self._redis, {"policy": token}, "policy reload")

    def message(self, payload: dict[str, Any]) -> None:
        """A message on the flags channel: remember a reload another replica announced."""
        token = payload.get("policy")
        if isinstance(token, str) and token != self._seen:
            self._requested = token

    async def refresh(self) -> None:
        """Reload when a message or the marker names a reload this worker has not done."""
        token = self._requested
        self._requested = None
        if token is None:
            marker = self._read()
            token = marker if marker is not None and marker != self._seen else None
        if token is None or token == self._seen:
            return
        self._seen = token
        try:
            bundle = await self._decisions.reload(reason="requested by another worker")
        except (PolicyBundleError, DependencyUnavailableError) as exc:
            log.error("policy reload requested by another worker failed; still serving "
                      "revision %s: %s", self._decisions.revision, exc)  # fmt: skip
            return
        log.info("policy bundle %s loaded as another worker asked", bundle.revision)

    def _read(self) -> str | None:
        try:
            return self._marker.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None
