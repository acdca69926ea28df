"""The canonical policy input (docs/policy-input.md), built in one place.

Facts SARK owns come from the catalog; the caller supplies only the action, parameters
and its own context. ``context.time``, ``context.ip`` and ``context.request_id`` are set
here, server-side: a caller cannot move itself into business hours.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from sark.core.models import Principal

#: Context keys SARK sets itself; whatever the caller sent under them is replaced.
SERVER_CONTEXT_KEYS = frozenset({"time", "ip", "request_id"})


class ResourceFactsLike(Protocol):
    """What the catalog knows of a server (and tool): ``runtime.catalog.resolve``."""

    server: dict[str, Any]
    tool: dict[str, Any] | None
    version: str


class CatalogFactsLike(Protocol):
    """The catalog's fact resolver."""

    async def resolve(self, server: str, tool: str | None) -> ResourceFactsLike:
        """Facts of ``server`` (and ``tool``); unknown ones have ``registered: False``."""


@dataclass(frozen=True, slots=True)
class Facts:
    """The resource of one decision, as SARK knows it."""

    server: dict[str, Any] | None
    tool: dict[str, Any] | None
    version: str
    """Changes whenever a fact changes (part of the cache key)."""

    @property
    def known(self) -> bool:
        """Every named resource is registered in the catalog."""
        if self.server is None:
            return False
        if self.server.get("registered") is not True:
            return False
        return self.tool is None or self.tool.get("registered") is True

    @property
    def label(self) -> str | None:
        """``server/tool`` (or ``server``) for the audit trail."""
        if self.server is None:
            return None
        name = str(self.server.get("name") or self.server.get("id") or "")
        return f"{name}/{self.tool.get('name')}" if self.tool else name


def unknown_facts(server: str | None, tool: str | None) -> Facts:
    """Facts of resources the catalog does not know (or when there is no catalog)."""
    return Facts(
        server={"name": server, "registered": False} if server is not None else None,
        tool={"name": tool, "registered": False} if tool is not None else None,
        version="unknown",
    )


def proposed_facts(proposed: dict[str, Any]) -> Facts:
    """Facts of a server being registered (described by SARK's catalog, not the caller)."""
    digest = msgspec.json.encode(proposed, order="sorted")
    return Facts(server=dict(proposed), tool=None, version=f"proposed:{hash_bytes(digest)}")


def hash_bytes(data: bytes) -> str:
    """A short content digest."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


_last_second: list[tuple[int, str]] = [(-1, "")]


def rfc3339(now: float) -> str:
    """``now`` (Unix seconds) as RFC 3339 UTC with second precision."""
    # Every decision asks; formatting once per second (the last one kept) saves a
    # strftime per decision. One tuple is replaced whole: safe from any thread.
    second = int(now)
    cached = _last_second[0]
    if cached[0] == second:
        return cached[1]
    text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
    _last_second[0] = (second, text)
    return text


def subject_of(principal: Principal) -> dict[str, Any]:
    """``input.subject`` for ``principal``."""
    return {
        "id": principal.id,
        "type": str(principal.type),
        "role": str(principal.role),
        "teams": list(principal.teams),
        "attributes": dict(principal.attributes),
        "acting_for": principal.acting_for,
    }


def build_input(
    principal: Principal,
    action: str,
    facts: Facts,
    parameters: dict[str, Any] | None,
    context: dict[str, Any] | None,
    *,
    now: float,
    ip: str | None,
    request_id: str | None,
) -> dict[str, Any]:
    """The canonical policy input."""
    resource: dict[str, Any] = {}
    if facts.server is not None:
        resource["server"] = facts.server
    if facts.tool is not None:
        resource["tool"] = facts.tool
    ctx: dict[str, Any] = {"approval_id": None, "gateway": None}
    if context:
        ctx.update(context)
        for key in SERVER_CONTEXT_KEYS:  # replaced below, whatever the caller sent
            ctx.pop(key, None)
    ctx["time"] = rfc3339(now)
    ctx["ip"] = ip
    ctx["request_id"] = request_id
    return {
        "subject": subject_of(principal),
        "action": action,
        "resource": resource,
        "parameters": parameters if parameters is not None else {},
        "context": ctx,
    }
