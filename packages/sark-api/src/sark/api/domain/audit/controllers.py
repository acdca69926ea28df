"""HTTP endpoints of the audit trail: filtered pages and a streamed export."""

from __future__ import annotations

import datetime
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.params import Parameter, QueryParameter
from litestar.response import Stream

from sark.api.domain.audit.deps import provide_audit_service
from sark.api.domain.audit.export import FORMATS, encode
from sark.api.domain.audit.guards import can_read_audit
from sark.api.domain.audit.schemas import AuditPage
from sark.api.domain.audit.services import (
    AuditFilters,
    AuditService,
    Cursor,
    iter_events,
    parse_limit,
)
from sark.api.runtime import Runtime
from sark.core.errors import ValidationError

# Filters arrive as text and are validated by AuditFilters.parse, so a bad one is a 422
# with a message naming it (the framework's own parsing would answer 400).
Since = Annotated[str | None, Parameter(description="RFC 3339 time, inclusive lower bound.")]
Until = Annotated[str | None, Parameter(description="RFC 3339 time, exclusive upper bound.")]
Text = Annotated[str | None, Parameter(max_length=512)]
Decision = Annotated[str | None, Parameter(description="`allow` or `deny`.")]
Server = Annotated[str | None, Parameter(description="Server name (resource `server/...`).")]
Tool = Annotated[str | None, Parameter(description="Text the resource contains.")]
PrincipalId = Annotated[str | None, QueryParameter(name="principal", max_length=512)]
Format = Annotated[str | None, QueryParameter(name="format", description="`csv` or `jsonl`.")]


def _filters(**query: str | None) -> AuditFilters:
    return AuditFilters.parse(query)


class AuditController(Controller):
    """The audit trail (admin, security_admin, or an API key with ``audit:read``)."""

    path = "/api/v1/audit"
    tags = ["audit"]
    guards = [can_read_audit]
    dependencies = {"audit_service": Provide(provide_audit_service, sync_to_thread=False)}

    @get("/", operation_id="listAuditEvents")
    async def list_events(
        self,
        *,
        audit_service: NamedDependency[AuditService],
        since: Since = None,
        until: Until = None,
        principal_id: PrincipalId = None,
        action: Text = None,
        kind: Text = None,
        decision: Decision = None,
        server: Server = None,
        tool: Tool = None,
        decision_id: Text = None,
        request_id: Text = None,
        cursor: Annotated[
            str | None, Parameter(description="next_cursor of the previous page.")
        ] = None,
        limit: Annotated[str | None, Parameter(description="Page size, 1 to 500 (100).")] = None,
    ) -> AuditPage:
        """Audit events matching the filters, newest first, with a keyset cursor."""
        filters = _filters(
            since=since, until=until, principal=principal_id, action=action, kind=kind,
            decision=decision, server=server, tool=tool, decision_id=decision_id,
            request_id=request_id,
        )  # fmt: skip
        after = Cursor.decode(cursor) if cursor else None
        return await audit_service.page(filters, after, parse_limit(limit))

    @get("/export", operation_id="exportAuditEvents")
    async def export(
        self,
        *,
        runtime: NamedDependency[Runtime],
        export_format: Format = None,
        since: Since = None,
        until: Until = None,
        principal_id: PrincipalId = None,
        action: Text = None,
        kind: Text = None,
        decision: Decision = None,
        server: Server = None,
        tool: Tool = None,
        decision_id: Text = None,
        request_id: Text = None,
    ) -> Stream:
        """Every matching event as CSV or JSON lines, streamed in chunks, newest first."""
        fmt = (export_format or "jsonl").strip().lower()
        if fmt not in FORMATS:
            msg = f"format: expected csv or jsonl, got {export_format!r}"
            raise ValidationError(msg)
        filters = _filters(
            since=since, until=until, principal=principal_id, action=action, kind=kind,
            decision=decision, server=server, tool=tool, decision_id=decision_id,
            request_id=request_id,
        )  # fmt: skip
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        return Stream(
            encode(fmt, iter_events(runtime.engine, filters)),
            media_type=FORMATS[fmt],
            headers={
                "Content-Disposition": f'attachment; filename="sark-audit-{stamp}.{fmt}"',
                "Cache-Control": "no-store",
            },
        )
