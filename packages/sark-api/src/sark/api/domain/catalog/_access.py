"""Policy decisions, API-key scopes and audit records for catalog actions."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from typing import Any, Final

from sark.api.domain.policy.services import DecisionRequest
from sark.api.observability.logging import request_id_var
from sark.api.runtime import Runtime
from sark.core.errors import PermissionDeniedError
from sark.core.models import AuditEvent, Decision, Principal, Role

log = logging.getLogger("sark.catalog")

READ_SCOPE: Final = "server:read"
WRITE_SCOPE: Final = "server:write"
#: Roles that see every server without asking the policy.
CATALOG_READERS: Final = frozenset({Role.ADMIN, Role.SECURITY_ADMIN})


def require_scope(principal: Principal, scope: str) -> None:
    """Refuse an API key that was not granted ``scope``."""
    if not principal.has_scope(scope):
        raise PermissionDeniedError(f"this API key lacks the {scope!r} scope")


def _denied(reason: str) -> Decision:
    return Decision(decision_id=str(uuid.uuid4()), allow=False, reason=reason)


async def decide(
    runtime: Runtime,
    principal: Principal,
    action: str,
    *,
    server: str | None = None,
    tool: str | None = None,
    proposed_server: dict[str, Any] | None = None,
) -> Decision:
    """Ask the decision service; any failure to answer is a deny (fail closed)."""
    try:
        return await runtime.decisions.decide(
            principal, action, server=server, tool=tool, proposed_server=proposed_server
        )
    except Exception:
        log.exception("decision for %s failed", action)
        return _denied("decision_error")


async def authorize(
    runtime: Runtime,
    principal: Principal,
    action: str,
    *,
    server: str | None = None,
    tool: str | None = None,
    proposed_server: dict[str, Any] | None = None,
) -> Decision:
    """An allowing decision for ``action``, else PermissionDeniedError with the reason."""
    decision = await decide(
        runtime, principal, action, server=server, tool=tool, proposed_server=proposed_server
    )
    if not decision.allow:
        raise PermissionDeniedError(f"policy denied {action}: {decision.reason}")
    return decision


async def readable(runtime: Runtime, principal: Principal, server_ids: Iterable[str]) -> set[str]:
    """The servers among ``server_ids`` that ``principal`` may read (``server:read``).

    One batch of decisions over the in-memory catalog facts (and the decision cache),
    never one database query per server. Any failure denies the whole batch.
    """
    ids = list(dict.fromkeys(server_ids))
    if principal.role in CATALOG_READERS or not ids:
        return set(ids)
    batch = [DecisionRequest(action="server:read", server=server_id) for server_id in ids]
    try:
        decisions = await runtime.decisions.decide_many(principal, batch)
    except Exception:
        log.exception("server:read decisions failed")
        return set()
    return {server_id for server_id, d in zip(ids, decisions, strict=True) if d.allow}


def record(
    runtime: Runtime,
    principal: Principal | None,
    action: str,
    resource: str,
    *,
    decision: Decision | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Audit one catalog change."""
    runtime.audit.record(
        AuditEvent(
            kind="catalog",
            action=action,
            occurred_at=time.time(),
            principal_id=principal.id if principal else None,
            principal_type=principal.type.value if principal else None,
            principal_role=principal.role.value if principal else None,
            resource=resource,
            allow=True,
            reason=decision.reason if decision else "",
            decision_id=decision.decision_id if decision else None,
            engine=decision.engine if decision else None,
            policy_revision=decision.policy_revision if decision else None,
            request_id=request_id_var.get(),
            details=details or {},
        )
    )
