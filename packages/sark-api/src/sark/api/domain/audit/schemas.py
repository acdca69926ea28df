"""Response bodies of the audit API."""

from __future__ import annotations

import datetime
from typing import Any

import msgspec


class AuditEventOut(msgspec.Struct, kw_only=True):
    """One audit event as the API returns it."""

    id: str
    seq: int
    occurred_at: datetime.datetime
    kind: str
    action: str
    decision_id: str | None
    principal_id: str | None
    principal_type: str | None
    principal_role: str | None
    resource: str | None
    allow: bool | None
    reason: str
    engine: str | None
    policy_revision: str | None
    request_id: str | None
    client_ip: str | None
    latency_ms: float | None
    details: dict[str, Any]


class AuditPage(msgspec.Struct, kw_only=True):
    """A page of audit events, newest first; ``next_cursor`` fetches the following page."""

    items: list[AuditEventOut]
    next_cursor: str | None
